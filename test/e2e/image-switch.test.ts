// End to end, an image switch at a real reboot (BIOS client: QEMU TCG + iPXE ROM + pxelinux), with
// the Ganesha backend over DBus (exports.dbus: auto; Ganesha and pxebootd on a private dbus-daemon):
//   1. `pxebootd image add base DIR`: version 1 (the e2e root tree, /etc/pxebootd-image = v1). A
//      persistent node on `image: base`, `on_image_change: carry`, boots it over NFS and writes
//      /guest-own into its upper.
//   2. While it runs, the test builds an oci-archive of version 2 (umoci: a layer with the v1 tree,
//      a layer that sets the marker to v2 and deletes /etc/v1-only; skopeo writes the archive) and
//      runs `pxebootd image add base oci-archive:FILE --promote`. The node's mount stays on v1.
//   3. QMP system_reset: the next boot's pxelinux.0 fetch (dnsmasq's TFTP log) switches the node:
//      boot files -> RemoveExport -> umount -> carry -> mount on v2 -> AddExport with the same
//      Export_Id -> boot files. The guest sees v2's marker, v2's deletion, and its own file.
//   No SIGHUP reaches Ganesha during the switch: the change went over DBus.
// Artefacts land in .cache/e2e/last-run-image-switch/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { requireTool, startDaemon, waitFor, type Daemon } from '../helpers/lab.ts';
import { startPrivateBus, type PrivateBus } from '../helpers/dbus.ts';
import { E2E_CACHE, REPO_ROOT, buildLowerImage } from '../helpers/e2e-assets.ts';
import { startVm, type Vm } from '../helpers/qemu.ts';
import { ipToHex, macHyphen } from '../../src/validate.ts';
import { dnsmasqLogSource, finishLab, labConfig, leaseSource, pxeNfsrootTemplate, startPxeLab, SERVER_IP, SUBNET, type LabVm, type PxeLab } from './pxe-lab.ts';
import { pxebootdEntry } from './pxebootd-proc.ts';

const VM_TIMEOUT_MS = 200_000;
/** one step (a boot, a reboot) on a loaded 2-core machine under TCG */
const STEP_MS = 120_000;
const LAST_RUN = path.join(E2E_CACHE, 'last-run-image-switch');
/** NBP fetches this soon after a provision are the same boot; short, so the reset counts as a new boot */
const GUARD_MS = 5000;
const VM: LabVm = { name: 'img-sw', mac: '52:54:00:12:34:80', ip: `${SUBNET}.80` };
const NODE = ipToHex(VM.ip);

// The node's /sbin/init, in both versions: prints the version marker it sees, whether v1's extra
// file is there and its own file from an earlier boot. On v1 it writes its own file, then ticks
// (re-reading the marker) until the test resets it; on any other version it powers off.
const IMAGE_INIT = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
ROOT=$($B grep ' / ' /proc/mounts | $B tail -n 1)
echo "E2E-MARKER nfsroot: root mount: $ROOT"
IP=$(echo "$ROOT" | $B sed -n 's/.*clientaddr=\\([0-9.]*\\).*/\\1/p')
RUN=$($B cat /etc/e2e/run-id)
M=$($B cat /etc/pxebootd-image)
echo "E2E-IMAGE boot: marker=$M"
if [ -e /etc/v1-only ]; then echo "E2E-IMAGE v1-only: present"; else echo "E2E-IMAGE v1-only: absent"; fi
if [ -f /guest-own ]; then echo "E2E-IMAGE own file: $($B cat /guest-own)"; else echo "E2E-IMAGE own file: none"; fi
if [ "$M" = v1 ]; then
  echo "run=$RUN ip=$IP written on v1" > /guest-own && $B sync && echo "E2E-IMAGE wrote /guest-own"
  n=0
  while :; do n=$((n+1)); echo "E2E-IMAGE tick $n: marker=$($B cat /etc/pxebootd-image)"; $B sleep 2; done
fi
echo "E2E-IMAGE powering off"
$B poweroff -f
`;

const PXE_TEMPLATE = pxeNfsrootTemplate('e2e image switch');

let bus: PrivateBus | undefined;
let lab: PxeLab | undefined;
let px: Daemon | undefined;
let vm: Vm | undefined;
let cfgFile = '';
let imagesDir = '';
let srcV1 = '';
let v1 = '';
let v2 = '';
let fsidV1: number | undefined;
let blockV1 = '';
const report: string[] = [];

const L = () => {
  if (!lab) throw new Error('the lab did not come up');
  return lab;
};
const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pxLogFile = () => path.join(L().dir, 'pxebootd.log');
const pxLog = () => read(pxLogFile());
const nodeMount = () => path.join(L().nodeDir, NODE);
const upperFile = (f: string) => path.join(L().overlayDir, NODE, 'upper', f);
const exportBlocks = () => read(L().exportsFile).split('\n').filter((l) => l.startsWith('EXPORT {') && l.includes(`Path = "${nodeMount()}"`));
const ganeshaSighups = () => read(L().ganesha.logFile).match(/Received SIGHUP/g)?.length ?? 0;
const imageLines = (v: Vm, re: RegExp) => v.lines.filter((l) => re.test(l.text));
/** the lowerdir of the node's overlay as /proc/self/mountinfo shows it (undefined: not mounted) */
const lowerOf = (mp: string): string | undefined => {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (pre?.split(' ')[4] === mp) return /(?:^|,)lowerdir=([^,]+)/.exec(post?.split(' ')[2] ?? '')?.[1];
  }
  return undefined;
};

interface StatusNode {
  name: string;
  ip: string;
  state: string;
  fsid: number;
  image?: string;
  image_version?: string;
  next_image_version?: string;
}

function cli(args: string[], timeoutMs = 60_000): string {
  try {
    return execFileSync(process.execPath, [pxebootdEntry(), ...args, '-c', cfgFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`pxebootd ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}
const statusOf = (): StatusNode | undefined => (JSON.parse(cli(['status', '--json'])) as { nodes: StatusNode[] }).nodes.find((n) => n.ip === VM.ip);

function run(cmd: string, args: string[], timeoutMs = 60_000): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

/**
 * Version 2 as an oci-archive, built here: layer 1 is the v1 source tree, layer 2 sets the marker
 * to v2 and deletes /etc/v1-only (a whiteout the import must apply).
 */
function buildOciArchive(fromTree: string, workDir: string): string {
  const layout = path.join(workDir, 'oci-layout');
  const bundle = path.join(workDir, 'oci-bundle');
  const img = `${layout}:v2`;
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', img]);
  run('umoci', ['unpack', '--image', img, bundle]);
  cpSync(fromTree, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  run('umoci', ['repack', '--image', img, bundle]);
  rmSync(bundle, { recursive: true, force: true });
  run('umoci', ['unpack', '--image', img, bundle]);
  writeFileSync(path.join(bundle, 'rootfs', 'etc', 'pxebootd-image'), 'v2\n');
  unlinkSync(path.join(bundle, 'rootfs', 'etc', 'v1-only'));
  run('umoci', ['repack', '--image', img, bundle]);
  rmSync(bundle, { recursive: true, force: true });
  const manifest = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: unknown[] };
  assert.equal(manifest.manifests.length, 1, 'one image in the layout');
  const archive = path.join(workDir, 'base-v2.oci.tar');
  run('skopeo', ['copy', `oci:${img}`, `oci-archive:${archive}`]);
  rmSync(layout, { recursive: true, force: true });
  return archive;
}

before(async () => {
  for (const t of ['dbus-daemon', 'dbus-send', 'umoci', 'skopeo', 'rsync']) requireTool(t);
  const t0 = Date.now();
  bus = await startPrivateBus();
  lab = await startPxeLab({ hosts: [`${VM.mac},${VM.ip},${VM.name}`], ganeshaDbus: bus.address });
  await waitFor(
    'ganesha owns org.ganesha.nfsd on the private bus',
    () =>
      execFileSync('dbus-send', ['--system', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.ganesha.nfsd'], {
        encoding: 'utf8',
        env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus!.address },
        timeout: 10_000,
      }).includes('boolean true'),
    30_000,
  );
  // version 1's source: the tree the other e2e tests boot, with this test's init and a marker
  srcV1 = path.join(lab.dir, 'src-v1');
  buildLowerImage(srcV1, lab.runId);
  writeFileSync(path.join(srcV1, 'sbin', 'init'), IMAGE_INIT, { mode: 0o755 });
  writeFileSync(path.join(srcV1, 'etc', 'pxebootd-image'), 'v1\n');
  writeFileSync(path.join(srcV1, 'etc', 'v1-only'), 'only in v1\n');
  imagesDir = path.join(lab.dir, 'images');
  mkdirSync(imagesDir);
  const pxeTpl = path.join(lab.dir, 'pxelinux.cfg.template');
  writeFileSync(pxeTpl, PXE_TEMPLATE);
  cfgFile = path.join(lab.dir, 'pxebootd-image-switch.yaml');
  // leases for DHCP; dnsmasq's own TFTP log (log-facility) for the pxelinux.0 fetch that marks a boot
  writeFileSync(cfgFile, stringify(labConfig(lab, [leaseSource(lab), dnsmasqLogSource(lab)], { image: 'base', on_image_change: 'carry', overlay: 'persistent', pxe_template: pxeTpl }, {
    images_dir: imagesDir,
    boot_guard_ms: GUARD_MS,
    exports: { backend: 'ganesha', file: lab.exportsFile, pid_file: lab.ganesha.pidFile, dbus: 'auto' },
    default_template: path.join(REPO_ROOT, 'etc', 'default.template'),
  })));
  v1 = cli(['image', 'add', 'base', srcV1]).trim();
  assert.match(v1, /^[A-Za-z0-9._-]+$/, `image add printed one version id: ${JSON.stringify(v1)}`);
  report.push(`v1 = ${v1}`);
  // debug: the runner logs each dbus-send it runs (AddExport / RemoveExport with the Export_Id)
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address, PXEBOOTD_LOG_LEVEL: 'debug', PXEBOOTD_LOG_FORMAT: 'json' };
  px = startDaemon('pxebootd', [process.execPath, pxebootdEntry(), 'run', '-c', cfgFile], { logFile: pxLogFile(), env });
  await waitFor('pxebootd started', () => {
    if (px!.child.exitCode !== null) throw new Error(`pxebootd exited: ${pxLog().slice(-2000)}`);
    return pxLog().includes('"msg":"pxebootd started"');
  }, 30_000);
  console.log(`# image-switch lab up in ${secs(Date.now() - t0)}: ${JSON.stringify(lab.timings)}`);
});

after(async () => {
  console.log(report.join('\n'));
  await finishLab(lab, {
    lastRunDir: LAST_RUN,
    texts: { 'report.txt': report.join('\n') + '\n' },
    pids: [bus?.pid, px?.pid, vm?.pid],
    leftoverMessage: 'cleanup left nothing behind (namespaces, mounts under the lab incl. images_dir, processes)',
  });
  if (lab) assert.equal(existsSync(lab.dir), false, 'the lab directory is gone');
});

test('v1: the node boots image base v1 over NFS and writes its own file', async () => {
  const l = L();
  vm = startVm({ name: VM.name, netns: l.net.srv, bridge: l.net.bridge, mac: VM.mac, workDir: l.dir, timeoutMs: VM_TIMEOUT_MS, allowReboot: true });
  const wrote = await vm.waitForLine(/E2E-IMAGE wrote \/guest-own/, STEP_MS);
  report.push(`v1 boot: /guest-own written ${secs(wrote.time - vm.startedAt)} after power-on`);
  const root = vm.lines.find((x) => /E2E-MARKER nfsroot: root mount:/.test(x.text))?.text ?? '';
  assert.match(root, new RegExp(`root mount: ${esc(SERVER_IP)}:${esc(nodeMount())} / nfs4 .*clientaddr=${esc(VM.ip)}`), 'the guest runs from its own export');
  assert.deepEqual(imageLines(vm, /E2E-IMAGE (boot|v1-only|own file):/).map((x) => x.text), [
    'E2E-IMAGE boot: marker=v1',
    'E2E-IMAGE v1-only: present',
    'E2E-IMAGE own file: none',
  ]);
  await waitFor('the guest file in the node upper', () => existsSync(upperFile('guest-own')), 10_000);
  assert.match(read(upperFile('guest-own')), new RegExp(`^run=${esc(l.runId)} ip=${esc(VM.ip)} written on v1$`, 'm'));
  const n = statusOf();
  assert.ok(n, `status lists ${VM.ip}`);
  assert.equal(n.state, 'ready');
  assert.equal(n.image, 'base');
  assert.equal(n.image_version, v1);
  assert.equal(n.next_image_version, undefined, 'no newer version yet');
  assert.equal(lowerOf(nodeMount()), path.join(imagesDir, 'base', v1), 'the overlay lower is version 1');
  fsidV1 = n.fsid;
  const blocks = exportBlocks();
  assert.equal(blocks.length, 1);
  blockV1 = blocks[0]!;
  assert.match(blockV1, new RegExp(`Export_Id = ${n.fsid};`), 'Export_Id is the node\'s fsid');
});

test('v2 from an oci-archive built here: image add --promote while the node runs changes nothing for it', async () => {
  const l = L();
  const v = vm!;
  assert.ok(fsidV1 !== undefined, 'the v1 scenario ran');
  const t0 = Date.now();
  const archive = buildOciArchive(srcV1, l.dir);
  const t1 = Date.now();
  v2 = cli(['image', 'add', 'base', `oci-archive:${archive}`, '--promote'], 120_000).trim();
  const promotedAt = Date.now();
  report.push(`v2 = ${v2}: oci-archive built in ${secs(t1 - t0)}, image add --promote took ${secs(promotedAt - t1)}`);
  assert.match(v2, /^[A-Za-z0-9._-]+$/);
  assert.notEqual(v2, v1);
  const v2Dir = path.join(imagesDir, 'base', v2);
  assert.equal(read(path.join(v2Dir, 'etc', 'pxebootd-image')), 'v2\n', 'the import flattened layer 2 over layer 1');
  assert.equal(existsSync(path.join(v2Dir, 'etc', 'v1-only')), false, 'layer 2\'s whiteout applied');
  assert.equal(read(path.join(v2Dir, 'sbin', 'init')), IMAGE_INIT, 'layer 1 is there');
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((x) => x.split(' ')[4] === v2Dir && / ro[, ]/.test(x)), true, 'v2 is a read-only bind mount');

  // the running node: still v1 on the server, and still v1 as the guest reads it
  const n = statusOf()!;
  assert.equal(n.image_version, v1, 'the running node keeps v1');
  assert.equal(n.next_image_version, v2, 'status shows the version of its next boot');
  assert.equal(n.fsid, fsidV1);
  assert.equal(lowerOf(nodeMount()), path.join(imagesDir, 'base', v1), 'its mount is still on version 1');
  assert.deepEqual(exportBlocks(), [blockV1], 'its export block is unchanged');
  const tick = await waitFor('a guest tick after the promote', () => v.lines.find((x) => x.time > promotedAt + 500 && /E2E-IMAGE tick \d+:/.test(x.text)), 30_000);
  assert.match(tick.text, /marker=v1$/, 'the guest still reads v1\'s marker after the promote');
  assert.deepEqual(imageLines(v, /E2E-IMAGE tick/).filter((x) => !/marker=v1$/.test(x.text)).map((x) => x.text), [], 'every tick read v1');
});

test('reboot: QMP system_reset -> the next boot switches the node to v2 over DBus (no SIGHUP), same fsid, its own file carried', async () => {
  const l = L();
  const v = vm!;
  assert.ok(v2, 'the promote scenario ran');
  const logBefore = pxLog().length;
  const sighupsBefore = ganeshaSighups();
  // a boot counts only GUARD_MS after the node became ready
  await new Promise((r) => setTimeout(r, GUARD_MS));
  const resetAt = Date.now();
  await v.qmp('system_reset');
  const boot2 = await waitFor('the second boot\'s marker line', () => imageLines(v, /E2E-IMAGE boot:/)[1], STEP_MS);
  // the guest prints its three lines at once, but the serial file is read in chunks: wait for the last
  await waitFor('the second boot\'s own-file line', () => imageLines(v, /E2E-IMAGE own file:/)[1], 30_000);
  const lines = v.lines.slice(v.lines.indexOf(boot2));
  const after = (re: RegExp) => lines.find((x) => re.test(x.text))?.text;
  assert.equal(boot2.text, 'E2E-IMAGE boot: marker=v2', 'after the reboot the guest sees version 2\'s marker');
  assert.equal(after(/E2E-IMAGE v1-only:/), 'E2E-IMAGE v1-only: absent', 'and version 2\'s deletion');
  assert.equal(after(/E2E-IMAGE own file:/), `E2E-IMAGE own file: run=${l.runId} ip=${VM.ip} written on v1`, 'and its own file from before');
  const root = [...v.lines].reverse().find((x) => /E2E-MARKER nfsroot: root mount:/.test(x.text))?.text ?? '';
  assert.match(root, new RegExp(`root mount: ${esc(SERVER_IP)}:${esc(nodeMount())} / nfs4 .*clientaddr=${esc(VM.ip)}`), 'from the same export path');
  await v.waitForLine(/E2E-IMAGE powering off/, STEP_MS);
  const res = await v.done;
  assert.equal(res.timedOut, false);
  report.push(`reboot: v2 marker on the console ${secs(boot2.time - resetAt)} after system_reset`);

  // the server: same fsid, same Export_Id, the mount on v2, the record says v2
  const n = statusOf()!;
  assert.equal(n.state, 'ready');
  assert.equal(n.image_version, v2, 'status --json: image_version is v2');
  assert.equal(n.next_image_version, undefined);
  assert.equal(n.fsid, fsidV1, 'the same fsid before and after the switch');
  assert.equal(lowerOf(nodeMount()), path.join(imagesDir, 'base', v2), 'the overlay lower is version 2');
  assert.deepEqual(exportBlocks(), [blockV1], 'the same EXPORT block (Export_Id, path, client) in the exports file');

  // how it switched: the daemon's log since the reset
  const log = pxLog().slice(logBefore);
  const entries = log.split('\n').filter(Boolean).map((x) => {
    try {
      return JSON.parse(x) as { msg?: string; time?: number };
    } catch {
      return { msg: x };
    }
  });
  const msgs = entries.map((e) => e.msg ?? '');
  const idx = (re: RegExp) => msgs.findIndex((m) => re.test(m));
  const switched = idx(new RegExp(`node ${NODE}: image base ${esc(v1)} -> ${esc(v2)} at its boot: upper carried`));
  assert.ok(switched >= 0, `pxebootd logged the carry switch: ${msgs.filter((m) => /image base/.test(m)).join(' | ')}`);
  const remove = idx(new RegExp(`^ran: \\S*dbus-send .*RemoveExport uint16:${fsidV1}\\b`));
  const add = idx(new RegExp(`^ran: \\S*dbus-send .*AddExport .*Export_Id=${fsidV1}\\)`));
  assert.ok(remove >= 0, `RemoveExport(${fsidV1}) over DBus: ${msgs.filter((m) => /dbus-send/.test(m)).join(' | ') || 'no dbus-send at all'}`);
  assert.ok(add > remove, `then AddExport with the same Export_Id ${fsidV1}`);
  const umount = idx(new RegExp(`^ran: \\S*umount .*${esc(nodeMount())}`));
  const mount = msgs.findIndex((m, i) => i > umount && new RegExp(`^ran: \\S*mount .*${esc(path.join(imagesDir, 'base', v2))}`).test(m));
  assert.ok(umount >= 0 && remove < umount && umount < add, 'RemoveExport before the umount of the node, AddExport after it');
  assert.ok(umount < switched && switched < mount && mount < add, 'umount, carry, then the mount on v2, then the AddExport');
  assert.deepEqual(msgs.filter((m) => /SIGHUP/.test(m)), [], 'pxebootd sent no SIGHUP for the switch');
  assert.deepEqual(msgs.filter((m) => /not reachable over DBus|could not be applied alone/.test(m)), [], 'no fallback to a reload');
  assert.equal(ganeshaSighups(), sighupsBefore, 'Ganesha received no SIGHUP during the switch');
  const t = (i: number) => entries[i]?.time;
  if (t(remove) && t(add)) report.push(`switch: RemoveExport -> AddExport ${t(add)! - t(remove)!} ms`);
  // the pxelinux side: the node's own file was served again after the switch
  const own = read(l.dnsmasq.logFile).split('\n').filter((x) => new RegExp(`sent ${esc(l.tftpRoot)}/pxelinux\\.cfg/(01-${macHyphen(VM.mac)}|${NODE}) to ${esc(VM.ip)}$`).test(x));
  assert.ok(own.length >= 2, `pxelinux got the node's own config on both boots: ${own.length}`);
});
