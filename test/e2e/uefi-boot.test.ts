// End to end, UEFI clients (QEMU TCG + OVMF), with the dnsmasq lines of etc/dnsmasq-pxebootd.conf
// and a stock nginx running etc/nginx-pxebootd.conf:
//   VM3: Secure Boot on (OVMF with Microsoft's keys) -> Debian's signed shim -> signed grubnetx64
//        -> pxebootd's grub/grub.cfg dispatcher -> the node's grub.cfg-01-<mac> -> signed Debian
//        kernel -> NFS root on its overlay. Secure Boot must show in the guest's log.
//   VM4: Secure Boot off -> snponly.efi (Debian's iPXE) -> pxebootd's ipxe/boot.ipxe -> the node's
//        <mac-hexraw>.ipxe -> kernel + initrd over HTTP ({{http_base}}) -> NFS root.
// Both power on while pxebootd is down, so each first finds no file of its own and must wait and
// retry through pxebootd's fallback; pxebootd then starts (lease source) and both boot their roots.
// The iPXE script also fetches kernel + initrd over TFTP first: the two fetch times are reported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { E2E_CACHE, ensureUefiAssets } from '../helpers/e2e-assets.ts';
import { startVm, type Vm, type VmResult, type SerialLine } from '../helpers/qemu.ts';
import { ipToHex, macHyphen } from '../../src/validate.ts';
import { finishLab, grubNfsrootTemplate, labConfig, leaseSource, startUefiLab, tftpLogOf, SERVER_IP, SUBNET, type LabVm, type PxeLab } from './pxe-lab.ts';
import { startPxebootd, pxebootdStatus, type PxebootdProc } from './pxebootd-proc.ts';
import { accessLines, startNginx, type NginxHandle } from './nginx.ts';

const VM_TIMEOUT_MS = 240_000;
const LAST_RUN = path.join(E2E_CACHE, 'last-run-uefi');
const HTTP_BASE = `http://${SERVER_IP}`;
const VM3: LabVm = { name: 'vm3', mac: '52:54:00:12:34:60', ip: `${SUBNET}.60` };
const VM4: LabVm = { name: 'vm4', mac: '52:54:00:12:34:61', ip: `${SUBNET}.61` };
/** a failed UEFI network boot: no offer, a refused image, a missing file */
const UEFI_FAIL = /PXE-E16|Access Denied|bad shim signature|Security Violation|error: file .*vmlinuz.* not found/;

const GRUB_TEMPLATE = grubNfsrootTemplate('e2e');
// fetches kernel + initrd over TFTP first (timed by the host from the serial stamps), frees
// them, then boots with kernel + initrd over HTTP
const IPXE_TEMPLATE = `#!ipxe
echo E2E-IPXE node <NODE> script
echo E2E-IPXE tftp fetch start
imgfetch --name tk tftp://{{server}}/vmlinuz
imgfetch --name ti tftp://{{server}}/initrd.img
echo E2E-IPXE tftp fetch done
imgfree tk
imgfree ti
echo E2E-IPXE http fetch start
kernel {{http_base}}/vmlinuz initrd=initrd.img console=ttyS0,115200 nfsroot={{server}}:{{nfs_path}}
initrd {{http_base}}/initrd.img
echo E2E-IPXE http fetch done
boot
`;

let lab: PxeLab;
let nginx: NginxHandle;
let px: PxebootdProc | undefined;
const pxPids: number[] = [];
const vms: Vm[] = [];
const results = new Map<string, VmResult>();
const report: string[] = [];
let cfgFile = '';
let pxStartedAt = 0;

const nodeOf = (vm: LabVm) => ipToHex(vm.ip);
const nodeMount = (vm: LabVm) => path.join(lab.nodeDir, nodeOf(vm));
const upperFile = (vm: LabVm) => path.join(lab.overlayDir, nodeOf(vm), 'upper', 'written-by-guest');
const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const tftpLog = (vm: LabVm) => tftpLogOf(lab, vm.ip);

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** ms from `a` to `b` on the serial console (host stamps, +-50 ms), or undefined */
function between(lines: SerialLine[], a: RegExp, b: RegExp): number | undefined {
  const x = lines.find((l) => a.test(l.text));
  const y = lines.find((l) => b.test(l.text));
  return x && y ? y.time - x.time : undefined;
}

before(async () => {
  lab = await startUefiLab([`${VM3.mac},${VM3.ip},${VM3.name}`, `${VM4.mac},set:ipxe-uefi,${VM4.ip},${VM4.name}`], { snponly: true });
  nginx = await startNginx({ netns: lab.net.srv, ip: SERVER_IP, tftpRoot: lab.tftpRoot, dir: path.join(lab.dir, 'nginx') });
  const grubTpl = path.join(lab.dir, 'grub.cfg.template');
  const ipxeTpl = path.join(lab.dir, 'ipxe.template');
  writeFileSync(grubTpl, GRUB_TEMPLATE);
  writeFileSync(ipxeTpl, IPXE_TEMPLATE);
  cfgFile = path.join(lab.dir, 'pxebootd-uefi.yaml');
  writeFileSync(cfgFile, stringify(labConfig(lab, [leaseSource(lab)], { root_dir: lab.rootDir, grub_template: grubTpl, ipxe_template: ipxeTpl }, { http_base: HTTP_BASE })));
  console.log(`# uefi lab up: ${JSON.stringify(lab.timings)}`);
});

after(async () => {
  console.log(report.join('\n'));
  await finishLab(lab, {
    lastRunDir: LAST_RUN,
    texts: { 'report.txt': report.join('\n') + '\n' },
    artefacts: [[nginx?.accessLog ?? '', 'nginx-access.log'], [nginx?.errorLog ?? '', 'nginx-error.log']],
    pids: [nginx?.pid, ...pxPids, ...vms.map((v) => v.pid)],
  });
});

test('fallbacks first: pxebootd writes grub/grub.cfg and ipxe/boot.ipxe; both UEFI clients wait on them while no file of their own exists', async () => {
  // a first pxebootd writes the loader fallbacks and is stopped before the clients power on
  const log1 = path.join(lab.dir, 'pxebootd-1.log');
  const first = await startPxebootd(cfgFile, log1, () => /"msg":"pxebootd started"/.test(read(log1)));
  pxPids.push(first.pid);
  assert.match(read(path.join(lab.tftpRoot, 'grub', 'grub.cfg')), /^# pxebootd: loader fallback/);
  assert.match(read(path.join(lab.tftpRoot, 'ipxe', 'boot.ipxe')), /^#!ipxe\n# pxebootd: loader fallback/);
  await first.stop();

  const common = { netns: lab.net.srv, bridge: lab.net.bridge, workDir: lab.dir, timeoutMs: VM_TIMEOUT_MS };
  const uefi = ensureUefiAssets();
  vms.push(startVm({ ...common, name: VM3.name, mac: VM3.mac, uefi: { code: uefi.ovmf.secbootCode, vars: uefi.ovmf.msVars, secureBoot: true } }));
  vms.push(startVm({ ...common, name: VM4.name, mac: VM4.mac, uefi: { code: uefi.ovmf.code, vars: uefi.ovmf.vars, secureBoot: false } }));
  for (const v of vms) void v.done.then((r) => results.set(v.name, r));
  const [vm3, vm4] = vms as [Vm, Vm];

  // GRUB ran its own search to the end (the per-node names were not there) and is waiting
  const grubWait = await vm3.waitForLine(/pxebootd: no config for .*, retry in 5 s/, VM_TIMEOUT_MS);
  const ipxeWait = await vm4.waitForLine(/pxebootd: no boot script for .* yet; retrying in 5 s/, VM_TIMEOUT_MS);
  report.push(`vm3 (shim+GRUB, Secure Boot): dispatcher waiting ${secs(grubWait.time - vm3.startedAt)} after power-on`);
  report.push(`vm4 (snponly.efi): dispatcher waiting ${secs(ipxeWait.time - vm4.startedAt)} after power-on`);
  assert.match(grubWait.text, new RegExp(`for ${VM3.mac} \\(${esc(VM3.ip)}\\)`), 'GRUB names the client by $net_default_mac / $net_default_ip');
  const l3 = tftpLog(VM3).map(([f]) => f);
  assert.ok(l3.includes('shimx64.efi') && l3.includes('grubx64.efi'), `shim then GRUB over TFTP: ${l3.join(' ')}`);
  assert.ok(l3.indexOf(`grub/grub.cfg-01-${macHyphen(VM3.mac)}`) > l3.indexOf('grub/grub.cfg'), 'GRUB probed grub.cfg-01-<mac> after loading the dispatcher');
  assert.ok(l3.includes(`grub/grub.cfg-${nodeOf(VM3)}`), 'and grub.cfg-<HEXIP>');
  const l4 = tftpLog(VM4).map(([f]) => f);
  assert.ok(l4.includes('snponly.efi') && l4.includes('ipxe/boot.ipxe'), `iPXE loaded the dispatcher: ${l4.join(' ')}`);
});

test('UEFI + Secure Boot: shim -> signed GRUB -> its own grub.cfg-01-<mac> -> signed kernel -> NFS root on its overlay', async () => {
  const [vm3, vm4] = vms as [Vm, Vm];
  const log2 = path.join(lab.dir, 'pxebootd-2.log');
  px = await startPxebootd(cfgFile, log2, () => /"msg":"pxebootd started"/.test(read(log2)));
  pxPids.push(px.pid);
  pxStartedAt = Date.now();
  const wrote = await vm3.waitForLine(/E2E-MARKER nfsroot: wrote \/written-by-guest:/, VM_TIMEOUT_MS);
  const res = await vm3.done;
  const lines = vm3.lines;
  const at = (re: RegExp) => lines.find((l) => re.test(l.text));
  for (const re of [/EFI stub: UEFI Secure Boot is enabled/, /secureboot: Secure boot enabled/]) assert.ok(at(re), `serial shows ${re}`);
  assert.equal(lines.filter((l) => UEFI_FAIL.test(l.text)).length, 0, 'no refused image or failed offer');
  const rootLine = at(/E2E-MARKER nfsroot: root mount:/)?.text ?? '';
  assert.match(rootLine, new RegExp(`root mount: ${esc(SERVER_IP)}:/\\S*${nodeOf(VM3)} / nfs4 .*clientaddr=${esc(VM3.ip)}`), 'the guest runs from its own NFSv4 export');
  assert.match(read(upperFile(VM3)), new RegExp(`^run=${lab.runId} ip=${esc(VM3.ip)} `), 'its write landed in overlay_dir/<NODE>/upper');
  const served = tftpLog(VM3).filter(([f, ok]) => ok && f === `grub/grub.cfg-01-${macHyphen(VM3.mac)}`);
  // GRUB's search fetches the file it found once more to run it
  assert.ok(served.length >= 1, 'GRUB\'s retry was served the node\'s own file, by the name GRUB looks up');
  assert.ok(!tftpLog(VM3).some(([f, ok]) => ok && /^grub\/grub\.cfg-0A/.test(f)), 'the MAC name was found first: no hex-IP name was ever served');
  assert.equal(res.timedOut, false);
  assert.equal(res.exitCode, 0, 'powered off by itself');
  const retryAfter = at(/pxebootd: no config for/)!.time;
  report.push(`vm3: pxebootd started ${secs(pxStartedAt - vm3.startedAt)}, GRUB retried and booted; kernel ${secs((at(/EFI stub: UEFI Secure Boot is enabled/)?.time ?? 0) - vm3.startedAt)}, NFS root written ${secs(wrote.time - vm3.startedAt)}, powered off ${secs(res.endedAt - vm3.startedAt)} (first wait at ${secs(retryAfter - vm3.startedAt)})`);
  void vm4;
});

test('UEFI + iPXE: snponly.efi -> boot.ipxe -> its own <mac-hexraw>.ipxe -> kernel + initrd over HTTP from nginx -> NFS root', async () => {
  const vm4 = vms[1]!;
  const wrote = await vm4.waitForLine(/E2E-MARKER nfsroot: wrote \/written-by-guest:/, VM_TIMEOUT_MS);
  const res = await vm4.done;
  const lines = vm4.lines;
  assert.equal(res.timedOut, false);
  assert.equal(res.exitCode, 0);
  const rootLine = lines.find((l) => /E2E-MARKER nfsroot: root mount:/.test(l.text))?.text ?? '';
  assert.match(rootLine, new RegExp(`root mount: ${esc(SERVER_IP)}:/\\S*${nodeOf(VM4)} / nfs4 .*clientaddr=${esc(VM4.ip)}`));
  assert.match(read(upperFile(VM4)), new RegExp(`^run=${lab.runId} ip=${esc(VM4.ip)} `));
  const script = `ipxe/${VM4.mac.replace(/:/g, '')}.ipxe`;
  assert.ok(tftpLog(VM4).some(([f, ok]) => ok && f === script), `the retry was served ${script}`);
  const http = accessLines(nginx).filter((l) => l.startsWith(`${VM4.ip} `));
  for (const f of ['/vmlinuz', '/initrd.img']) assert.ok(http.some((l) => l.includes(`"GET ${f} HTTP/1.1" 200 `)), `nginx served ${f} to ${VM4.ip}: ${http.join(' | ')}`);
  const tftpMs = between(lines, /E2E-IPXE tftp fetch start/, /E2E-IPXE tftp fetch done/);
  const httpMs = between(lines, /E2E-IPXE http fetch start/, /E2E-IPXE http fetch done/);
  assert.ok(tftpMs !== undefined && httpMs !== undefined, 'both fetches were timed');
  const size = (f: string) => readFileSync(path.join(lab.tftpRoot, f)).length;
  const mb = (size('vmlinuz') + size('initrd.img')) / 1e6;
  report.push(`vm4: kernel + initrd (${mb.toFixed(1)} MB) over TFTP (dnsmasq) ${tftpMs} ms, over HTTP (nginx) ${httpMs} ms (serial stamps, +-50 ms); NFS root written ${secs(wrote.time - vm4.startedAt)}, powered off ${secs(res.endedAt - vm4.startedAt)}`);
  const node = pxebootdStatus(cfgFile).find((n) => n.ip === VM4.ip);
  assert.equal(node?.state, 'ready');
  await px?.stop();
});
