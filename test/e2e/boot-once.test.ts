// End to end, boot once (BIOS clients, QEMU TCG + iPXE ROM + pxelinux), with the shipped profile
// templates of etc/profiles/ and pxebootd built from this checkout:
//   memtest: `pxebootd boot-once IP memtest` before power-on -> the VM PXE-boots memtest86+ (its
//            serial screen shows it testing) -> dnsmasq's TFTP log shows the binary sent ->
//            production files -> QMP system_reset -> the next boot runs from the node's NFS root.
//   verify:  the image scripts/build-verify-image.sh builds -> its /init POSTs pass with the boot's
//            token -> production -> it reboots into its NFS root. A second VM with
//            pxebootd.verify_inject=fail is quarantined: its next boot gets the quarantine profile
//            (poweroff.c32), never production.
// pxebootd runs with the server namespace's network (nsenter --net, so its overlay mounts stay in
// the host's mount namespace for Ganesha) because the report endpoint must be on the boot network.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { startDaemon, waitFor, type Daemon } from '../helpers/lab.ts';
import { E2E_CACHE, REPO_ROOT } from '../helpers/e2e-assets.ts';
import { startVm, type Vm } from '../helpers/qemu.ts';
import { macHyphen } from '../../src/validate.ts';
import { dnsmasqLogSource, escRe as esc, finishLab, labConfig, leaseSource, pxeNfsrootTemplate, startPxeLab, nodeOf, readText as read, secs, tftpLogOf, SERVER_IP, SUBNET, type LabVm, type PxeLab } from './pxe-lab.ts';
import { pxebootdEntry } from './pxebootd-proc.ts';

const VM_TIMEOUT_MS = 300_000;
const LAST_RUN = path.join(E2E_CACHE, 'last-run-boot-once');
const REPORT_PORT = 9643;
const MEM: LabVm = { name: 'bo-mem', mac: '52:54:00:12:34:70', ip: `${SUBNET}.70` };
const PASS: LabVm = { name: 'bo-pass', mac: '52:54:00:12:34:71', ip: `${SUBNET}.71` };
const FAIL: LabVm = { name: 'bo-fail', mac: '52:54:00:12:34:72', ip: `${SUBNET}.72` };
/** the verify image's knobs for a TCG guest: a 1 MiB memtester loop, one CPU round */
const VERIFY_KNOBS = 'pxebootd.verify_mem=1M pxebootd.verify_cpu=1';

const PXE_TEMPLATE = pxeNfsrootTemplate('e2e production');

let lab: PxeLab;
let px: Daemon | undefined;
let cfgFile = '';
const vms: Vm[] = [];
const report: string[] = [];

const upperFile = (vm: LabVm) => path.join(lab.overlayDir, nodeOf(vm), 'upper', 'written-by-guest');
/** the node's pxelinux file: pxebootd writes 01-<mac> or the hex-IP name */
const pxeFile = (vm: LabVm) => {
  const byMac = path.join(lab.tftpRoot, 'pxelinux.cfg', `01-${macHyphen(vm.mac)}`);
  return existsSync(byMac) ? byMac : path.join(lab.tftpRoot, 'pxelinux.cfg', nodeOf(vm));
};
const pxLog = () => read(path.join(lab.dir, 'pxebootd.log'));
const tftpLog = (vm: LabVm) => tftpLogOf(lab, vm.ip);

function cli(args: string[]): string {
  return execFileSync(process.execPath, [pxebootdEntry(), ...args, '-c', cfgFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
interface StatusNode {
  ip: string;
  state: string;
  bootOnce?: { queue: string[]; current?: { profile: string }; results: Array<{ profile: string; result: string; details?: Record<string, unknown> }>; quarantined?: { profile: string } };
}
const statusOf = (vm: LabVm): StatusNode | undefined => (JSON.parse(cli(['status', '--json'])) as { nodes: StatusNode[] }).nodes.find((n) => n.ip === vm.ip);

function bootVm(vm: LabVm, memoryMb: number): Vm {
  const v = startVm({ name: vm.name, netns: lab.net.srv, bridge: lab.net.bridge, mac: vm.mac, workDir: lab.dir, timeoutMs: VM_TIMEOUT_MS, memoryMb, allowReboot: true });
  vms.push(v);
  return v;
}

async function waitSerial(vm: Vm, re: RegExp, ms: number): Promise<number> {
  const until = Date.now() + ms;
  for (;;) {
    if (re.test(vm.serialText())) return Date.now();
    if (Date.now() > until) throw new Error(`${vm.name}: no ${re} on the serial console within ${ms} ms (${vm.serialPath})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  const t0 = Date.now();
  lab = await startPxeLab({ hosts: [MEM, PASS, FAIL].map((v) => `${v.mac},${v.ip},${v.name}`) });
  // boot programs of the profiles: memtest86+ from Debian's package, poweroff.c32 for the quarantine profile
  for (const f of ['/boot/memtest86+x64.bin']) {
    if (!existsSync(f)) throw new Error(`${f} missing: install memtest86+ (scripts/install-deps.sh)`);
    copyFileSync(f, path.join(lab.tftpRoot, path.basename(f)));
  }
  for (const f of ['poweroff.c32', 'libcom32.c32', 'libutil.c32']) copyFileSync(path.join('/usr/lib/syslinux/modules/bios', f), path.join(lab.tftpRoot, f));
  // the verify image, built by the shipped script into tftp_root/verify/ (its .deb cache is reused)
  const tb = Date.now();
  execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'build-verify-image.sh'), '-o', path.join(lab.tftpRoot, 'verify')], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  report.push(`verify image built in ${secs(Date.now() - tb)}: ${readFileSync(path.join(lab.tftpRoot, 'verify', 'verify.cpio.gz')).length} bytes`);

  const prod = path.join(lab.dir, 'pxelinux.cfg.template');
  writeFileSync(prod, PXE_TEMPLATE);
  // the shipped profile templates, the verify one with knobs for TCG (and an injected fail)
  const profDir = path.join(lab.dir, 'profiles');
  mkdirSync(profDir);
  const shipped = (f: string) => readFileSync(path.join(REPO_ROOT, 'etc', 'profiles', f), 'utf8');
  const verify = shipped('verify.pxelinux');
  assert.match(verify, /^\s*APPEND .*pxebootd\.report_url=\{\{report_url\}\} pxebootd\.report_token=\{\{report_token\}\}/m);
  const withKnobs = (extra: string) => verify.replace(/^(\s*APPEND .*)$/m, `$1 ${extra}`);
  writeFileSync(path.join(profDir, 'verify.pxelinux'), withKnobs(VERIFY_KNOBS));
  writeFileSync(path.join(profDir, 'verify-fail.pxelinux'), withKnobs(`${VERIFY_KNOBS} pxebootd.verify_inject=fail`));
  for (const f of ['memtest.pxelinux', 'quarantine.pxelinux']) writeFileSync(path.join(profDir, f), shipped(f));

  cfgFile = path.join(lab.dir, 'pxebootd-boot-once.yaml');
  // leases for DHCP, dnsmasq's own log (log-facility) for the TFTP fetches that end `served` profiles
  writeFileSync(cfgFile, stringify(labConfig(lab, [leaseSource(lab), dnsmasqLogSource(lab)], { root_dir: lab.rootDir, pxe_template: prod }, {
    default_template: path.join(REPO_ROOT, 'etc', 'default.template'),
    profiles: {
      memtest: { pxe_template: path.join(profDir, 'memtest.pxelinux'), done_when: 'served' },
      verify: { pxe_template: path.join(profDir, 'verify.pxelinux'), done_when: 'reported', timeout: '10m' },
      'verify-fail': { pxe_template: path.join(profDir, 'verify-fail.pxelinux'), done_when: 'reported', timeout: '10m' },
      quarantine: { pxe_template: path.join(profDir, 'quarantine.pxelinux'), done_when: 'served' },
    },
    report: { listen: `${SERVER_IP}:${REPORT_PORT}` },
  })));
  // the boot network's side of pxebootd: only the network namespace is entered
  px = startDaemon('pxebootd', ['nsenter', `--net=/run/netns/${lab.net.srv}`, process.execPath, pxebootdEntry(), 'run', '-c', cfgFile], { logFile: path.join(lab.dir, 'pxebootd.log') });
  await waitFor('pxebootd started', () => {
    if (px!.child.exitCode !== null) throw new Error(`pxebootd exited: ${pxLog().slice(-2000)}`);
    return pxLog().includes('"msg":"pxebootd started"');
  }, 30_000);
  assert.match(pxLog(), new RegExp(`boot-once reports on http://${esc(SERVER_IP)}:${REPORT_PORT}`));
  console.log(`# boot-once lab up in ${secs(Date.now() - t0)}: ${JSON.stringify(lab.timings)}`);
});

after(async () => {
  console.log(report.join('\n'));
  await finishLab(lab, { lastRunDir: LAST_RUN, texts: { 'report.txt': report.join('\n') + '\n' }, pids: [px?.pid, ...vms.map((v) => v.pid)] });
});

test('memtest (BIOS): boot-once -> memtest86+ over PXE, testing on the serial console -> production files -> QMP system_reset -> NFS root', async () => {
  const out = cli(['boot-once', MEM.ip, 'memtest']);
  assert.match(out, /memtest/);
  // 128 MiB: memtest86+ skips its benchmark (e2e-lab.md §7)
  const vm = bootVm(MEM, 128);
  const started = await waitSerial(vm, /Memtest86\+ v\d/, 120_000);
  const testing = await waitSerial(vm, /#\d+ +\[(Address test|Moving inversions)/, 120_000);
  report.push(`memtest: memtest86+ on the console ${secs(started - vm.startedAt)} after power-on, testing at ${secs(testing - vm.startedAt)}`);
  const l = tftpLog(MEM);
  assert.deepEqual(l.filter(([f]) => f === 'memtest86+x64.bin'), [['memtest86+x64.bin', true]], `memtest86+x64.bin sent once over TFTP: ${JSON.stringify(l)}`);
  assert.ok(l.some(([f, ok]) => ok && (f === `pxelinux.cfg/01-${macHyphen(MEM.mac)}` || f === `pxelinux.cfg/${nodeOf(MEM)}`)), `pxelinux got the node's own (memtest) file: ${JSON.stringify(l)}`);
  // the binary was sent: pxebootd writes production while memtest runs
  await waitFor('memtest done and production written', () => {
    const n = statusOf(MEM);
    return n?.state === 'ready' && /KERNEL vmlinuz/.test(read(pxeFile(MEM))) && n.bootOnce?.results.some((r) => r.profile === 'memtest' && r.result === 'served');
  }, 60_000);
  const resetAt = Date.now();
  await vm.qmp('system_reset');
  const wrote = await vm.waitForLine(/E2E-MARKER nfsroot: wrote \/written-by-guest:/, VM_TIMEOUT_MS);
  const res = await vm.done;
  assert.equal(res.timedOut, false);
  assert.equal(res.exitCode, 0, 'the production boot powered off by itself');
  const root = vm.lines.find((x) => /E2E-MARKER nfsroot: root mount:/.test(x.text))?.text ?? '';
  assert.match(root, new RegExp(`root mount: ${esc(SERVER_IP)}:${esc(path.join(lab.nodeDir, nodeOf(MEM)))} / nfs4 .*clientaddr=${esc(MEM.ip)}`), 'after the reset the node runs from its own NFS root');
  assert.match(read(upperFile(MEM)), new RegExp(`ip=${esc(MEM.ip)} `));
  assert.equal(tftpLog(MEM).filter(([f]) => f === 'memtest86+x64.bin').length, 1, 'memtest was not booted again');
  const n = statusOf(MEM)!;
  assert.deepEqual(n.bootOnce?.results.map((r) => [r.profile, r.result]), [['memtest', 'served']]);
  assert.deepEqual(n.bootOnce?.queue ?? [], []);
  report.push(`memtest: reset ${secs(resetAt - vm.startedAt)} after power-on; production NFS root written ${secs(wrote.time - resetAt)} after the reset`);
});

test('verify (BIOS): the built image POSTs pass -> production -> its reboot reaches the NFS root; verify_inject=fail -> quarantined, the next boot gets the quarantine profile, never production', async () => {
  cli(['boot-once', PASS.ip, 'verify']);
  cli(['boot-once', FAIL.ip, 'verify-fail']);
  const vp = bootVm(PASS, 512);
  const vf = bootVm(FAIL, 512);

  // --- pass
  const reported = await vp.waitForLine(/pxebootd-verify: reported pass to http:/, VM_TIMEOUT_MS);
  assert.ok(vp.lines.some((x) => /pxebootd-verify: result: pass \{.*"memtester":"ok 1M".*"cpu":"ok/.test(x.text)), 'the checks ran and passed');
  const wrote = await vp.waitForLine(/E2E-MARKER nfsroot: wrote \/written-by-guest:/, VM_TIMEOUT_MS);
  const rp = await vp.done;
  assert.equal(rp.timedOut, false);
  assert.equal(rp.exitCode, 0);
  assert.ok(vp.lines.some((x) => /pxebootd-verify: rebooting/.test(x.text)), 'the image rebooted itself');
  const root = vp.lines.find((x) => /E2E-MARKER nfsroot: root mount:/.test(x.text))?.text ?? '';
  assert.match(root, new RegExp(`root mount: ${esc(SERVER_IP)}:\\S*${nodeOf(PASS)} / nfs4 .*clientaddr=${esc(PASS.ip)}`));
  const np = statusOf(PASS)!;
  assert.equal(np.state, 'ready');
  const r = np.bootOnce?.results ?? [];
  assert.deepEqual(r.map((x) => [x.profile, x.result]), [['verify', 'pass']]);
  assert.equal(r[0]!.details?.memtester, 'ok 1M', `details kept: ${JSON.stringify(r[0]!.details)}`);
  assert.match(String(r[0]!.details?.kernel), /amd64$/);
  const pl = tftpLog(PASS);
  assert.equal(pl.filter(([f, ok]) => ok && f === 'verify/verify.cpio.gz').length, 1, 'the verify image was booted once');
  report.push(`verify pass: reported ${secs(reported.time - vp.startedAt)} after power-on, production NFS root written at ${secs(wrote.time - vp.startedAt)}`);

  // --- fail
  const freported = await vf.waitForLine(/pxebootd-verify: reported fail to http:/, VM_TIMEOUT_MS);
  await waitFor('quarantined', () => statusOf(FAIL)?.state === 'quarantined', 60_000);
  // the reboot: pxelinux gets the quarantine profile, which powers off (or at least never boots production)
  const said = await vf.waitForLine(/pxebootd: node \S+ \(10\.99\.0\.72\) is quarantined/, 180_000);
  const ended = await Promise.race([vf.done.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), 30_000))]);
  if (!ended) vf.kill();
  const rf = await vf.done;
  assert.equal(vf.lines.some((x) => /E2E-MARKER (initramfs|nfsroot)/.test(x.text)), false, 'the failed node never booted the production kernel');
  assert.equal(existsSync(upperFile(FAIL)), false, 'nothing written to its NFS root');
  assert.doesNotMatch(read(pxeFile(FAIL)), /KERNEL vmlinuz/, 'no production boot file');
  const fl = tftpLog(FAIL);
  assert.equal(fl.filter(([f, ok]) => ok && f === 'verify/verify.cpio.gz').length, 1, 'verify booted once, not again');
  // dnsmasq logs "sent" after the transfer's last ACK, from its own queue: the VM can power off first
  await waitFor('poweroff.c32 sent (the quarantine profile) in the TFTP log', () => tftpLog(FAIL).some(([f, ok]) => ok && f === 'poweroff.c32'), 20_000).catch(() => {});
  assert.ok(tftpLog(FAIL).some(([f, ok]) => ok && f === 'poweroff.c32'), 'the quarantine profile was booted');
  const nf = statusOf(FAIL)!;
  assert.equal(nf.state, 'quarantined');
  assert.deepEqual(nf.bootOnce?.results.map((x) => [x.profile, x.result]), [['verify-fail', 'fail']]);
  assert.match(String(nf.bootOnce?.results[0]?.details?.injected), /fail/);
  report.push(`verify fail: reported ${secs(freported.time - vf.startedAt)} after power-on; quarantine profile on the console at ${secs(said.time - vf.startedAt)}; ${ended ? `powered off by poweroff.c32 (exit ${rf.exitCode})` : 'did not power off within 30 s (killed)'}`);
});
