// boot-once with the real daemon (`pxebootd run`), real overlay mounts and exportfs, a syslog source
// fed tftpd-hpa lines, and real HTTP reports from a network namespace holding the nodes' addresses:
//   memtest (served): boot-once -> memtest files -> RRQ of memtest86+x64.bin -> production files back;
//   verify (reported): the token from the node's boot file POSTed by busybox wget -> production;
//   first_boot verify + a `fail` report -> quarantined: no production files until boot-once --cancel.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, startDaemon, waitFor } from '../../helpers/lab.ts';
import { addTftpLogSource, copyShippedProfiles, makeNodeNetns, subnetRule } from '../../helpers/cli-lab-boot.ts';
import { CLI, cli, leaseLine, makeLab, type Lab } from '../cli/cli-lab.ts';

after(cleanupAll);
requireRoot();
requireTool('exportfs');
requireTool('busybox');

const NET = `10.96.${1 + Math.floor(Math.random() * 250)}`;
const SRV = `${NET}.1`;
const PORT = 20_000 + Math.floor(Math.random() * 20_000);
const hex = (ip: string) => ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('').toUpperCase();
const MEM = { ip: `${NET}.30`, mac: '52:54:00:b0:00:30' };
const PASS = { ip: `${NET}.20`, mac: '52:54:00:b0:00:20' };
const FAIL = { ip: `${NET}.130`, mac: '52:54:00:b0:01:30' };

interface StatusNode {
  name: string;
  ip: string;
  state: string;
  bootOnce?: { queue: string[]; current?: { profile: string }; results: Array<{ profile: string; result: string; details?: unknown }>; quarantined?: { profile: string } };
  timeline?: Array<{ what: string }>;
}

/** The lab: production (pxe only) in NET.0/25, first_boot [verify] in NET.128/25, profiles, report endpoint. */
function makeBootOnceLab(): { lab: Lab; tftpLog: string } {
  const lab = makeLab({
    subnetExtra: subnetRule(`${NET}.0/25`, []) + subnetRule(`${NET}.128/25`, ['first_boot: [verify]']),
    extra: `boot_guard_ms: 1000
profiles:
  memtest: { pxe_template: profiles/memtest.pxelinux, grub_template: profiles/memtest.grub, done_when: served }
  verify: { pxe_template: profiles/verify.pxelinux, done_when: reported, timeout: 1h }
report: { listen: "${SRV}:${PORT}" }
`,
  });
  copyShippedProfiles(lab, ['memtest.pxelinux', 'memtest.grub', 'verify.pxelinux']);
  return { lab, tftpLog: addTftpLogSource(lab) };
}


/** POST a report from `from` inside the namespace (busybox wget for the primary address, as the verify image does). */
function postFrom(ns: string, from: string, body: unknown): { status: number; out: string } {
  const url = `http://${SRV}:${PORT}/v1/report`;
  // node's http client binds the source address; it prints the status line
  const js = `const r=require('http').request(${JSON.stringify(url)},{method:'POST',localAddress:${JSON.stringify(from)},headers:{'content-type':'application/json'}},(s)=>{let t='';s.on('data',c=>t+=c);s.on('end',()=>{process.stdout.write(s.statusCode+' '+t)})});r.on('error',e=>{process.stdout.write('0 '+e.message)});r.end(${JSON.stringify(JSON.stringify(body))});`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8', timeout: 20_000 });
  const [code, ...rest] = (r.stdout ?? '').split(' ');
  return { status: Number(code), out: rest.join(' ') };
}

function wgetFrom(ns: string, body: unknown): number | null {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'busybox', 'wget', '-q', '-O', '-', '--header', 'Content-Type: application/json', '--post-data', JSON.stringify(body), `http://${SRV}:${PORT}/v1/report`], { encoding: 'utf8', timeout: 20_000 });
  return r.status;
}

/** A tftpd-hpa line as rsyslog writes it on Debian 12. */
const rrq = (ip: string, file: string) => `${new Date().toISOString().replace('Z', '000+00:00')} vm in.tftpd[18342]: RRQ from ${ip} filename ${file}\n`;

async function nodes(lab: Lab): Promise<StatusNode[]> {
  const r = await cli(['status', '--json', '-c', lab.config]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { nodes: StatusNode[] }).nodes;
}
const nodeOf = async (lab: Lab, ip: string) => (await nodes(lab)).find((n) => n.ip === ip);
const pxeFile = (lab: Lab, mac: string) => path.join(lab.tftp, 'pxelinux.cfg', `01-${mac.replace(/:/g, '-')}`);
const grubFile = (lab: Lab, mac: string) => path.join(lab.tftp, 'grub', `grub.cfg-01-${mac.replace(/:/g, '-')}`);
const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const tokenIn = (text: string) => /pxebootd\.report_token=(\S+)/.exec(text)?.[1];

describe('boot-once: profiles, then production, or quarantine', () => {
  test('memtest (served by a TFTP line), verify (reported pass, replay refused), first_boot verify + fail -> quarantine until --cancel', async () => {
    const { lab, tftpLog } = makeBootOnceLab();
    const ns = makeNodeNetns('bo', SRV, [PASS.ip, FAIL.ip]);
    const logFile = path.join(lab.dir, 'daemon.log');
    const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
    const log = () => read(logFile);
    await waitFor('daemon started', () => log().includes('pxebootd started'), 30_000);
    assert.match(log(), new RegExp(`boot-once reports on http://${SRV.replace(/\./g, '\\.')}:${PORT}`));

    // --- memtest: a ready production node sent to memtest once
    appendFileSync(lab.leases, leaseLine(MEM.mac, MEM.ip) + leaseLine(PASS.mac, PASS.ip));
    await waitFor('both ready', async () => (await nodes(lab)).filter((n) => n.state === 'ready').length === 2, 30_000);
    const production = read(pxeFile(lab, MEM.mac));
    assert.match(production, /KERNEL vmlinuz/);
    const bo = await cli(['boot-once', MEM.ip, 'memtest', '-c', lab.config]);
    assert.equal(bo.code, 0, bo.stderr + bo.stdout);
    assert.match(bo.stdout, /verifying; next boot: memtest, then production/);
    assert.match(read(pxeFile(lab, MEM.mac)), /LINUX memtest86\+x64\.bin/, 'the pxelinux file is memtest\'s');
    assert.match(read(grubFile(lab, MEM.mac)), /linux \/memtest86\+x64\.efi/, 'the GRUB file (a loader production does not use) is memtest\'s');
    assert.match(read(pxeFile(lab, MEM.mac)), /^# pxebootd: generated for node /, 'our marker');
    assert.equal((await nodeOf(lab, MEM.ip))?.state, 'verifying');
    // the first boot's pxelinux.0 and config fetches change nothing; the memtest binary ends it
    appendFileSync(tftpLog, rrq(MEM.ip, 'pxelinux.0') + rrq(MEM.ip, `pxelinux.cfg/01-${MEM.mac.replace(/:/g, '-')}`));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await nodeOf(lab, MEM.ip))?.state, 'verifying');
    appendFileSync(tftpLog, rrq(MEM.ip, 'memtest86+x64.bin'));
    await waitFor('memtest node back in production', async () => (await nodeOf(lab, MEM.ip))?.state === 'ready' && read(pxeFile(lab, MEM.mac)) === production, 20_000);
    assert.equal(existsSync(grubFile(lab, MEM.mac)), false, 'the memtest GRUB file is gone: a UEFI boot does not run memtest again');
    const mem = (await nodeOf(lab, MEM.ip))!;
    assert.deepEqual(mem.bootOnce?.results.map((r) => [r.profile, r.result]), [['memtest', 'served']]);
    // the same binary fetched again later (a stale boot) never brings memtest back
    appendFileSync(tftpLog, rrq(MEM.ip, 'memtest86+x64.bin'));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(read(pxeFile(lab, MEM.mac)), production);

    // --- verify: reported pass from the node's own IP (busybox wget, as the verify image does)
    const v = await cli(['boot-once', PASS.ip, 'verify', '-c', lab.config]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    const vtext = read(pxeFile(lab, PASS.mac));
    assert.match(vtext, new RegExp(`pxebootd\\.report_url=http://${SRV.replace(/\./g, '\\.')}:${PORT}/v1/report `));
    const token = tokenIn(vtext)!;
    assert.match(token, /^[A-Za-z0-9_-]{32}$/);
    assert.ok(!read(lab.stateFile).includes(token), 'state holds the token hashed only');
    // the right token from another address is refused, and so is a wrong token from the right one
    assert.equal(postFrom(ns, FAIL.ip, { token, result: 'pass' }).status, 403, 'no node holds FAIL\'s address yet');
    assert.equal(postFrom(ns, PASS.ip, { token: 'x'.repeat(32), result: 'pass' }).status, 403);
    assert.equal((await nodeOf(lab, PASS.ip))?.state, 'verifying');
    assert.equal(wgetFrom(ns, { token, result: 'pass', details: { memtester: 'ok' } }), 0);
    await waitFor('verify node in production', async () => (await nodeOf(lab, PASS.ip))?.state === 'ready' && /KERNEL vmlinuz/.test(read(pxeFile(lab, PASS.mac))), 20_000);
    const passed = (await nodeOf(lab, PASS.ip))!;
    assert.deepEqual(passed.bootOnce?.results.map((r) => [r.profile, r.result, r.details]), [['verify', 'pass', { memtester: 'ok' }]]);
    // a replay of the used token: refused, nothing changes
    assert.notEqual(wgetFrom(ns, { token, result: 'fail' }), 0);
    assert.equal(postFrom(ns, PASS.ip, { token, result: 'fail' }).status, 409);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await nodeOf(lab, PASS.ip))?.state, 'ready');

    // --- first_boot verify, then fail: quarantined, production never written
    appendFileSync(lab.leases, leaseLine(FAIL.mac, FAIL.ip));
    await waitFor('new node in its first_boot profile', async () => (await nodeOf(lab, FAIL.ip))?.state === 'verifying', 30_000);
    const ftext = read(pxeFile(lab, FAIL.mac));
    assert.match(ftext, /LINUX verify\/vmlinuz/);
    const ftoken = tokenIn(ftext)!;
    // PASS's address with FAIL's token: refused (PASS has no current profile)
    assert.equal(postFrom(ns, PASS.ip, { token: ftoken, result: 'fail' }).status, 409);
    const r = postFrom(ns, FAIL.ip, { token: ftoken, result: 'fail', details: { memtester: 'FAILURE: 0x1000' } });
    assert.equal(r.status, 200, r.out);
    assert.match(r.out, /"next":"quarantine"/);
    await waitFor('quarantined, its boot files removed (the fallback applies)', async () => (await nodeOf(lab, FAIL.ip))?.state === 'quarantined' && !existsSync(pxeFile(lab, FAIL.mac)), 20_000);
    const hexName = path.join(lab.tftp, 'pxelinux.cfg', hex(FAIL.ip));
    assert.equal(existsSync(hexName), false);
    // it boots again (pxelinux.0, its config): still no production, still quarantined
    appendFileSync(tftpLog, rrq(FAIL.ip, 'pxelinux.0') + rrq(FAIL.ip, `pxelinux.cfg/01-${FAIL.mac.replace(/:/g, '-')}`));
    appendFileSync(lab.leases, leaseLine(FAIL.mac, FAIL.ip));
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal((await nodeOf(lab, FAIL.ip))?.state, 'quarantined');
    assert.equal(existsSync(pxeFile(lab, FAIL.mac)), false);
    const failName = (await nodeOf(lab, FAIL.ip))!.name;
    assert.doesNotMatch(log(), new RegExp(`"msg":"node ${failName} ready"`), 'never ready (production) while quarantined');
    // boot-once of another profile does not lift quarantine
    const again = await cli(['boot-once', FAIL.ip, 'verify', '-c', lab.config]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /quarantined/);
    // status and explain show it
    const st = await cli(['status', FAIL.ip, '-c', lab.config]);
    assert.match(st.stdout, /quarantined/);
    assert.match(st.stdout, /boot-once of \S+: quarantined since .* \(verify: reported fail\)/);
    assert.match(st.stdout, /verify\s+fail\s+\{"memtester":"FAILURE: 0x1000"\}/);
    const ex = await cli(['explain', FAIL.ip, '-c', lab.config]);
    assert.match(ex.stdout, /boot-once: QUARANTINED \(verify: reported fail\): no per-node files: the fallback/);
    const exNew = await cli(['explain', `${NET}.140`, '-c', lab.config]);
    assert.match(exNew.stdout, /boot-once: profile verify \(\S+verify\.pxelinux; done when reported\), then production \(first_boot of a new node\)/);
    // --cancel: production at last
    const c = await cli(['boot-once', FAIL.ip, '--cancel', '-c', lab.config]);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    await waitFor('released from quarantine into production', async () => (await nodeOf(lab, FAIL.ip))?.state === 'ready' && /KERNEL vmlinuz/.test(read(pxeFile(lab, FAIL.mac))), 20_000);
    const failed = (await nodeOf(lab, FAIL.ip))!;
    assert.deepEqual(failed.bootOnce?.results.map((x) => [x.profile, x.result]), [['verify', 'fail']]);
    assert.equal(failed.bootOnce?.quarantined, undefined);

    await d.stop();
  });
});
