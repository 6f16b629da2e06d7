// End to end, boot once on UEFI (QEMU TCG + OVMF, Secure Boot off), with the shipped GRUB profile
// template etc/profiles/memtest.grub as it is, Debian's memtest86+x64.efi, and the dnsmasq lines of
// etc/dnsmasq-pxebootd.conf (UEFI: Debian's signed shim -> signed grubnetx64 -> pxebootd's
// grub/grub.cfg dispatcher -> the node's grub.cfg-01-<mac>):
//   `pxebootd boot-once IP memtest` before power-on -> OVMF PXE -> GRUB boots memtest86+x64.efi
//   (its serial screen shows it testing) -> dnsmasq's TFTP log shows the binary sent -> production
//   GRUB file -> QMP system_reset -> the next boot runs from the node's own NFS root.
// Secure Boot must be off: memtest86+x64.efi is unsigned (GRUB says "bad shim signature" otherwise).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { waitFor } from '../helpers/lab.ts';
import { E2E_CACHE, REPO_ROOT, ensureUefiAssets } from '../helpers/e2e-assets.ts';
import { startVm, type Vm } from '../helpers/qemu.ts';
import { macHyphen } from '../../src/validate.ts';
import { dnsmasqLogSource, escRe as esc, finishLab, grubNfsrootTemplate, labConfig, leaseSource, startUefiLab, nodeOf, readText as read, secs, tftpLogOf, SERVER_IP, SUBNET, type LabVm, type PxeLab } from './pxe-lab.ts';
import { pxebootdEntry, startPxebootd, type PxebootdProc } from './pxebootd-proc.ts';

const VM_TIMEOUT_MS = 200_000;
const LAST_RUN = path.join(E2E_CACHE, 'last-run-boot-once-uefi');
const UMEM: LabVm = { name: 'bo-umem', mac: '52:54:00:12:34:73', ip: `${SUBNET}.73` };
const MEMTEST_EFI = '/boot/memtest86+x64.efi';
/** a failed UEFI network boot or a refused image */
const UEFI_FAIL = /PXE-E16|Access Denied|bad shim signature|Security Violation|error: (file|out of memory|invalid)/;

const GRUB_TEMPLATE = grubNfsrootTemplate('e2e production');

let lab: PxeLab;
let px: PxebootdProc | undefined;
let cfgFile = '';
const vms: Vm[] = [];
const report: string[] = [];

const upperFile = (vm: LabVm) => path.join(lab.overlayDir, nodeOf(vm), 'upper', 'written-by-guest');
/** the node's GRUB file names (pxebootd writes one of them; the dispatcher's search tries both) */
const grubNames = (vm: LabVm) => [`grub/grub.cfg-01-${macHyphen(vm.mac)}`, `grub/grub.cfg-${nodeOf(vm)}`];
const grubFile = (vm: LabVm) => grubNames(vm).map((f) => path.join(lab.tftpRoot, f)).find((f) => existsSync(f)) ?? '';
const tftpLog = (vm: LabVm) => tftpLogOf(lab, vm.ip);

function cli(args: string[]): string {
  return execFileSync(process.execPath, [pxebootdEntry(), ...args, '-c', cfgFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
interface StatusNode {
  ip: string;
  state: string;
  bootOnce?: { queue: string[]; current?: { profile: string }; results: Array<{ profile: string; result: string; details?: Record<string, unknown> }> };
}
const statusOf = (vm: LabVm): StatusNode | undefined => (JSON.parse(cli(['status', '--json'])) as { nodes: StatusNode[] }).nodes.find((n) => n.ip === vm.ip);

/** memtest86+ draws a VT100 screen: match the raw serial text, not lines */
async function waitSerial(vm: Vm, re: RegExp, ms: number): Promise<number> {
  const until = Date.now() + ms;
  for (;;) {
    const text = vm.serialText();
    if (re.test(text)) return Date.now();
    const bad = UEFI_FAIL.exec(text);
    if (bad) throw new Error(`${vm.name}: the UEFI boot failed (${bad[0]}) before ${re} (${vm.serialPath})`);
    if (Date.now() > until) throw new Error(`${vm.name}: no ${re} on the serial console within ${ms} ms (${vm.serialPath})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  const t0 = Date.now();
  if (!existsSync(MEMTEST_EFI)) throw new Error(`${MEMTEST_EFI} missing: install memtest86+ (scripts/install-deps.sh)`);
  lab = await startUefiLab([`${UMEM.mac},${UMEM.ip},${UMEM.name}`]);
  // the boot program as etc/profiles/memtest.grub names it
  copyFileSync(MEMTEST_EFI, path.join(lab.tftpRoot, path.basename(MEMTEST_EFI)));
  const prod = path.join(lab.dir, 'grub.cfg.template');
  writeFileSync(prod, GRUB_TEMPLATE);
  // the shipped profile template, unchanged
  const profDir = path.join(lab.dir, 'profiles');
  mkdirSync(profDir);
  copyFileSync(path.join(REPO_ROOT, 'etc', 'profiles', 'memtest.grub'), path.join(profDir, 'memtest.grub'));
  cfgFile = path.join(lab.dir, 'pxebootd-boot-once-uefi.yaml');
  // leases for DHCP, dnsmasq's own log (log-facility) for the TFTP fetch that ends the served profile
  writeFileSync(cfgFile, stringify(labConfig(lab, [leaseSource(lab), dnsmasqLogSource(lab)], { root_dir: lab.rootDir, grub_template: prod }, {
    profiles: { memtest: { grub_template: path.join(profDir, 'memtest.grub'), done_when: 'served' } },
  })));
  const logFile = path.join(lab.dir, 'pxebootd.log');
  px = await startPxebootd(cfgFile, logFile, () => /"msg":"pxebootd started"/.test(read(logFile)), 30_000);
  console.log(`# boot-once UEFI lab up in ${secs(Date.now() - t0)}: ${JSON.stringify(lab.timings)}`);
});

after(async () => {
  console.log(report.join('\n'));
  // dnsmasq has sat in D state for over 10 s under load: 30 s for the leftover check
  await finishLab(lab, { lastRunDir: LAST_RUN, texts: { 'report.txt': report.join('\n') + '\n' }, pids: [px?.pid, ...vms.map((v) => v.pid)], settleMs: 30_000 });
});

test('memtest (UEFI, Secure Boot off): boot-once -> shim + GRUB boot memtest86+x64.efi with the shipped memtest.grub, testing on the serial console -> production -> QMP system_reset -> NFS root', async () => {
  assert.match(cli(['boot-once', UMEM.ip, 'memtest']), /memtest/);
  const uefi = ensureUefiAssets();
  // 512 MiB: at 128 and 192 MiB memtest86+ ran, but after the reset GRUB said "error: out of
  // memory." loading the production kernel + initrd (e2e-lab.md §7: 64 MiB is too little for memtest)
  const vm = startVm({ name: UMEM.name, netns: lab.net.srv, bridge: lab.net.bridge, mac: UMEM.mac, workDir: lab.dir, timeoutMs: VM_TIMEOUT_MS, memoryMb: 512, allowReboot: true, uefi: { code: uefi.ovmf.code, vars: uefi.ovmf.vars, secureBoot: false } });
  vms.push(vm);
  const started = await waitSerial(vm, /Memtest86\+ v\d/, 150_000);
  const testing = await waitSerial(vm, /#\d+ +\[(Address test|Moving inversions)/, 120_000);
  assert.match(vm.serialText(), /Status: Testing/, 'memtest86+ is testing');
  assert.match(vm.serialText(), /Booting `memtest86\+ \(pxebootd boot-once\)'/, 'GRUB ran the menu entry of etc/profiles/memtest.grub');
  report.push(`memtest (UEFI): memtest86+ on the console ${secs(started - vm.startedAt)} after power-on, testing at ${secs(testing - vm.startedAt)}`);
  const l = tftpLog(UMEM);
  assert.ok(l.some(([f, ok]) => ok && f === 'shimx64.efi') && l.some(([f, ok]) => ok && f === 'grubx64.efi'), `shim then GRUB over TFTP: ${JSON.stringify(l)}`);
  assert.deepEqual(l.filter(([f]) => f === 'memtest86+x64.efi'), [['memtest86+x64.efi', true]], `memtest86+x64.efi sent once over TFTP: ${JSON.stringify(l)}`);
  assert.ok(l.some(([f, ok]) => ok && grubNames(UMEM).includes(f)), `GRUB got the node's own (memtest) file: ${JSON.stringify(l)}`);
  // the binary was sent: pxebootd writes production while memtest runs
  await waitFor('memtest done and production GRUB file written', () => {
    const n = statusOf(UMEM);
    return n?.state === 'ready' && /nfsroot=/.test(read(grubFile(UMEM))) && n.bootOnce?.results.some((r) => r.profile === 'memtest' && r.result === 'served') === true;
  }, 60_000, 500);
  const resetAt = Date.now();
  const seenBefore = vm.lines.length;
  await vm.qmp('system_reset');
  // the production boot: its NFS root, or GRUB's error (fail now, not at the VM's timeout)
  const outcome = await waitFor('the production boot after the reset', () => {
    const after = vm.lines.slice(seenBefore);
    const bad = after.find((x) => UEFI_FAIL.test(x.text) || /you need to load the kernel first/.test(x.text));
    const ok = after.find((x) => /E2E-MARKER nfsroot: wrote \/written-by-guest:/.test(x.text));
    return ok ? { ok } : bad ? { bad } : undefined;
  }, VM_TIMEOUT_MS, 200);
  if (outcome.bad) assert.fail(`${vm.name}: the production boot failed: ${outcome.bad.text} (${vm.serialPath})`);
  const wrote = outcome.ok!;
  const res = await vm.done;
  assert.equal(res.timedOut, false);
  assert.equal(res.exitCode, 0, 'the production boot powered off by itself');
  const root = vm.lines.find((x) => /E2E-MARKER nfsroot: root mount:/.test(x.text))?.text ?? '';
  assert.match(root, new RegExp(`root mount: ${esc(SERVER_IP)}:\\S*${nodeOf(UMEM)} / nfs4 .*clientaddr=${esc(UMEM.ip)}`), 'after the reset the node runs from its own NFS root');
  assert.match(read(upperFile(UMEM)), new RegExp(`ip=${esc(UMEM.ip)} `));
  assert.ok(vm.lines.some((x) => /E2E-GRUB: booting/.test(x.text)), 'the second boot ran the production GRUB file');
  assert.equal(tftpLog(UMEM).filter(([f]) => f === 'memtest86+x64.efi').length, 1, 'memtest was not booted again');
  const n = statusOf(UMEM)!;
  assert.deepEqual(n.bootOnce?.results.map((r) => [r.profile, r.result]), [['memtest', 'served']]);
  assert.deepEqual(n.bootOnce?.queue ?? [], []);
  report.push(`memtest (UEFI): reset ${secs(resetAt - vm.startedAt)} after power-on; production NFS root written ${secs(wrote.time - resetAt)} after the reset`);
  await px?.stop();
});

