// End to end, UEFI HTTP Boot (QEMU TCG + OVMF, Secure Boot off, PXE entries off so the firmware
// goes straight to HTTP boot), with the dnsmasq lines of etc/dnsmasq-pxebootd.conf (only the server
// address in the boot URL replaced) and a stock nginx running etc/nginx-pxebootd.conf:
//   VM5: firmware DHCP (vendor class HTTPClient) -> http://SERVER/snponly.efi from nginx -> iPXE's
//        own DHCP -> pxebootd's ipxe/boot.ipxe -> the node's <mac-hexraw>.ipxe -> kernel + initrd
//        over HTTP ({{http_base}}) -> NFS root on its overlay.
// Secure Boot is not tried: Debian 12's signed grubnetx64 has no http module, so shim (which does
// fetch grubx64.efi over HTTP) hands over to a GRUB that cannot read (http,SERVER)/grub/grub.cfg.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { E2E_CACHE, ensureUefiAssets } from '../helpers/e2e-assets.ts';
import { startVm, type Vm } from '../helpers/qemu.ts';
import { ipToHex } from '../../src/validate.ts';
import { finishLab, labConfig, leaseSource, shippedClientLines, startPxeLab, SERVER_IP, SUBNET, type LabVm, type PxeLab } from './pxe-lab.ts';
import { startPxebootd, pxebootdStatus, type PxebootdProc } from './pxebootd-proc.ts';
import { accessLines, startNginx, type NginxHandle } from './nginx.ts';

const VM_TIMEOUT_MS = 180_000;
const LAST_RUN = path.join(E2E_CACHE, 'last-run-httpboot');
const HTTP_BASE = `http://${SERVER_IP}`;
/** the server address etc/dnsmasq-pxebootd.conf puts in the HTTP boot URL */
const SNIPPET_SERVER = '10.0.0.1';
/** OVMF gave up on an HTTP boot entry (or on all of them) */
const HTTPBOOT_FAIL = /Could not retrieve NBP|BdsDxe: failed to (?:load|start) Boot\d+ "UEFI HTTP|UEFI Interactive Shell/;
const VM5: LabVm = { name: 'vm5', mac: '52:54:00:12:34:62', ip: `${SUBNET}.62` };

const IPXE_TEMPLATE = `#!ipxe
echo E2E-IPXE node <NODE> script
kernel {{http_base}}/vmlinuz initrd=initrd.img console=ttyS0,115200 nfsroot={{server}}:{{nfs_path}}
initrd {{http_base}}/initrd.img
boot
`;

let lab: PxeLab;
let nginx: NginxHandle | undefined;
let px: PxebootdProc | undefined;
let vm: Vm | undefined;
const report: string[] = [];
let cfgFile = '';

const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The lines of etc/dnsmasq-pxebootd.conf between "# --- clients" and "# --- end clients", with the lab's address in URLs. */
function clientLinesForLab(): string[] {
  const lines = shippedClientLines();
  const url = `http://${SNIPPET_SERVER}/`;
  if (!lines.some((l) => l.startsWith('dhcp-boot=tag:httpclient,') && l.includes(url))) {
    throw new Error(`etc/dnsmasq-pxebootd.conf: no "dhcp-boot=tag:httpclient,${url}..." line in the clients block`);
  }
  return lines.map((l) => l.split(url).join(`http://${SERVER_IP}/`));
}

before(async () => {
  const uefi = ensureUefiAssets();
  lab = await startPxeLab({ hosts: [`${VM5.mac},${VM5.ip},${VM5.name}`], bootLines: clientLinesForLab() });
  copyFileSync(uefi.snponly, path.join(lab.tftpRoot, 'snponly.efi'));
  nginx = await startNginx({ netns: lab.net.srv, ip: SERVER_IP, tftpRoot: lab.tftpRoot, dir: path.join(lab.dir, 'nginx') });
  const ipxeTpl = path.join(lab.dir, 'ipxe.template');
  writeFileSync(ipxeTpl, IPXE_TEMPLATE);
  cfgFile = path.join(lab.dir, 'pxebootd-httpboot.yaml');
  writeFileSync(cfgFile, stringify(labConfig(lab, [leaseSource(lab)], { root_dir: lab.rootDir, ipxe_template: ipxeTpl }, { http_base: HTTP_BASE })));
  console.log(`# httpboot lab up: ${JSON.stringify(lab.timings)}`);
});

after(async () => {
  console.log(report.join('\n'));
  await finishLab(lab, {
    lastRunDir: LAST_RUN,
    texts: { 'report.txt': report.join('\n') + '\n' },
    artefacts: [[nginx?.accessLog ?? '', 'nginx-access.log'], [nginx?.errorLog ?? '', 'nginx-error.log']],
    pids: [nginx?.pid, px?.pid, vm?.pid],
  });
});

test('UEFI HTTP Boot: HTTPClient DHCP -> snponly.efi from nginx -> boot.ipxe -> its own <mac-hexraw>.ipxe -> NFS root', async () => {
  const log = path.join(lab.dir, 'pxebootd.log');
  px = await startPxebootd(cfgFile, log, () => /"msg":"pxebootd started"/.test(read(log)));
  const uefi = ensureUefiAssets();
  vm = startVm({
    netns: lab.net.srv, bridge: lab.net.bridge, workDir: lab.dir, timeoutMs: VM_TIMEOUT_MS,
    name: VM5.name, mac: VM5.mac, uefi: { code: uefi.ovmf.code, vars: uefi.ovmf.vars, secureBoot: false, httpBootOnly: true },
  });
  // without option 60 "HTTPClient" in the offer OVMF prints "Could not retrieve NBP file size" and
  // ends in its shell: stop at the first of either instead of waiting for the timeout
  const uri = await vm.waitForLine(new RegExp(`URI: http://|${HTTPBOOT_FAIL.source}`), VM_TIMEOUT_MS);
  assert.equal(uri.text.trim(), `URI: http://${SERVER_IP}/snponly.efi`, 'the firmware took the URL from dnsmasq\'s HTTPClient answer');
  const wrote = await vm.waitForLine(new RegExp(`E2E-MARKER nfsroot: wrote /written-by-guest:|${HTTPBOOT_FAIL.source}`), VM_TIMEOUT_MS);
  assert.match(wrote.text, /E2E-MARKER nfsroot: wrote/);
  const res = await vm.done;
  const lines = res.lines;
  assert.equal(res.timedOut, false);
  assert.equal(res.exitCode, 0, 'powered off by itself');
  assert.ok(lines.some((l) => /Start HTTP Boot over IPv4/.test(l.text)), 'OVMF ran its HTTP boot');
  assert.ok(!lines.some((l) => /Start PXE over/.test(l.text)), 'no PXE attempt first');
  assert.ok(lines.some((l) => /BdsDxe: starting Boot\d+ "UEFI HTTPv4/.test(l.text)), 'the HTTPv4 boot entry started the image');
  const dhcp = read(lab.dnsmasq.logFile);
  assert.match(dhcp, /vendor class: HTTPClient:Arch:00016/, 'the firmware asked as an HTTP client (arch 16)');
  const http = accessLines(nginx!).filter((l) => l.startsWith(`${VM5.ip} `));
  for (const f of ['/snponly.efi', '/vmlinuz', '/initrd.img']) assert.ok(http.some((l) => l.includes(`"GET ${f} HTTP/1.1" 200 `)), `nginx served ${f} to ${VM5.ip}: ${http.join(' | ')}`);
  const script = `ipxe/${VM5.mac.replace(/:/g, '')}.ipxe`;
  assert.match(dhcp, new RegExp(`dnsmasq-tftp\\[\\d+\\]: sent ${esc(lab.tftpRoot)}/${esc(script)} to ${esc(VM5.ip)}$`, 'm'), `iPXE was served ${script}`);
  const node = ipToHex(VM5.ip);
  const rootLine = lines.find((l) => /E2E-MARKER nfsroot: root mount:/.test(l.text))?.text ?? '';
  assert.match(rootLine, new RegExp(`root mount: ${esc(SERVER_IP)}:/\\S*${node} / nfs4 .*clientaddr=${esc(VM5.ip)}`), 'the guest runs from its own NFSv4 export');
  assert.match(read(path.join(lab.overlayDir, node, 'upper', 'written-by-guest')), new RegExp(`^run=${lab.runId} ip=${esc(VM5.ip)} `));
  assert.equal(pxebootdStatus(cfgFile).find((n) => n.ip === VM5.ip)?.state, 'ready');
  report.push(`vm5 (UEFI HTTP Boot, snponly.efi): URI ${secs(uri.time - vm.startedAt)} after power-on, NFS root written ${secs(wrote.time - vm.startedAt)}, powered off ${secs(res.endedAt - vm.startedAt)}`);
  await px.stop();
});
