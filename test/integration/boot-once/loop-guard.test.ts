// The loop guard with only a log source (tftpd-hpa lines in a syslog file) and a dnsmasq lease
// file, no dnsmasq hook, with the real daemon (`pxebootd run`), real overlay mounts and exportfs:
//   LOOP:   a node whose verify image cannot report boots verify twice (RRQ lines of two boots):
//           its verify files are withdrawn, so a third boot finds no file of its own (the fallback);
//           it is not failed by the log lines, only by its timeout (the daemon's own clock).
//   FORGED: a node running verify, and a forged "second boot" line (what `logger -t in.tftpd` can
//           write): its files are withdrawn, but it is not failed and its real report still counts.
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

const NET = `10.95.${1 + Math.floor(Math.random() * 250)}`;
const SRV = `${NET}.1`;
const PORT = 20_000 + Math.floor(Math.random() * 20_000);
const hex = (ip: string) => ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('').toUpperCase();
const LOOP = { ip: `${NET}.140`, mac: '52:54:00:b1:01:40' };
const FORGED = { ip: `${NET}.141`, mac: '52:54:00:b1:01:41' };
/** boot_guard_ms of the lab: fetches further apart than this are separate boots */
const GUARD_MS = 1000;
/** the verify profile's timeout: long enough for both scenarios, counted from when the files were written */
const TIMEOUT_S = 30;

interface StatusNode {
  name: string;
  ip: string;
  state: string;
  bootOnce?: { queue: string[]; current?: { profile: string; held?: { since: number; file: string; source?: string } }; results: Array<{ profile: string; result: string; details?: unknown }>; quarantined?: { profile: string; why: string } };
}

function makeLoopLab(): { lab: Lab; tftpLog: string } {
  const lab = makeLab({
    subnetExtra: subnetRule(`${NET}.128/25`, ['first_boot: [verify]']),
    extra: `boot_guard_ms: ${GUARD_MS}
profiles:
  verify: { pxe_template: profiles/verify.pxelinux, done_when: reported, timeout: ${TIMEOUT_S}s }
report: { listen: "${SRV}:${PORT}" }
`,
  });
  copyShippedProfiles(lab, ['verify.pxelinux']);
  return { lab, tftpLog: addTftpLogSource(lab) };
}


/** POST a report from inside the namespace (the node's own address). */
function postFrom(ns: string, body: unknown): { status: number; out: string } {
  const js = `const r=require('http').request(${JSON.stringify(`http://${SRV}:${PORT}/v1/report`)},{method:'POST',headers:{'content-type':'application/json'}},(s)=>{let t='';s.on('data',c=>t+=c);s.on('end',()=>{process.stdout.write(s.statusCode+' '+t)})});r.on('error',e=>{process.stdout.write('0 '+e.message)});r.end(${JSON.stringify(JSON.stringify(body))});`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8', timeout: 20_000 });
  const [code, ...rest] = (r.stdout ?? '').split(' ');
  return { status: Number(code), out: rest.join(' ') };
}

/** A tftpd-hpa line as rsyslog writes it on Debian 12 (a local user's `logger -t in.tftpd` writes the same). */
const rrq = (ip: string, file: string) => `${new Date().toISOString().replace('Z', '000+00:00')} vm in.tftpd[18342]: RRQ from ${ip} filename ${file}\n`;
/** One PXE boot as tftpd-hpa logs it, up to the files of the config it got. */
const boot = (n: { ip: string; mac: string }, withVerify: boolean) =>
  rrq(n.ip, 'pxelinux.0') + rrq(n.ip, 'ldlinux.c32') + rrq(n.ip, `pxelinux.cfg/01-${n.mac.replace(/:/g, '-')}`) + (withVerify ? rrq(n.ip, 'verify/vmlinuz') + rrq(n.ip, 'verify/verify.cpio.gz') : '');

const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('boot-once loop guard with log sources only', () => {
  test('a node that boots verify twice without reporting gets no verify files a third time, and only its timeout fails it; a forged reboot line fails nobody', async () => {
    const { lab, tftpLog } = makeLoopLab();
    const ns = makeNodeNetns('bl', SRV, [FORGED.ip]);
    const logFile = path.join(lab.dir, 'daemon.log');
    const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
    await waitFor('daemon started', () => read(logFile).includes('pxebootd started'), 30_000);
    const nodes = async () => {
      const r = await cli(['status', '--json', '-c', lab.config]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { nodes: StatusNode[] }).nodes;
    };
    const nodeOf = async (ip: string) => (await nodes()).find((n) => n.ip === ip);
    /** the node's own pxelinux files (by MAC and by hex IP): what a booting node would get instead of the fallback */
    const ownFiles = (n: { ip: string; mac: string }) =>
      [path.join(lab.tftp, 'pxelinux.cfg', `01-${n.mac.replace(/:/g, '-')}`), path.join(lab.tftp, 'pxelinux.cfg', hex(n.ip))].map(read).join('');

    // both nodes are new in a first_boot [verify] subnet: their files are verify's
    appendFileSync(lab.leases, leaseLine(LOOP.mac, LOOP.ip) + leaseLine(FORGED.mac, FORGED.ip));
    await waitFor('both verifying with verify files', async () => {
      const all = await nodes();
      return [LOOP, FORGED].every((n) => all.find((x) => x.ip === n.ip)?.state === 'verifying' && /LINUX verify\/vmlinuz/.test(ownFiles(n)));
    }, 30_000);
    const forgedToken = /pxebootd\.report_token=(\S+)/.exec(ownFiles(FORGED))?.[1];
    assert.ok(forgedToken);

    // --- LOOP: boot 1 runs verify, which cannot report and reboots
    appendFileSync(tftpLog, boot(LOOP, true));
    await waitFor('boot 1 seen', async () => /current verify \(booted/.test((await cli(['status', LOOP.ip, '-c', lab.config])).stdout), 20_000);
    await sleep(GUARD_MS + 200);
    // boot 2: the daemon reads the lines only after they are all written (it lost the race): verify ran a second time
    appendFileSync(tftpLog, boot(LOOP, true));
    await waitFor('LOOP held: its verify files withdrawn', async () => (await nodeOf(LOOP.ip))?.bootOnce?.current?.held !== undefined && ownFiles(LOOP) === '', 20_000);
    let n = (await nodeOf(LOOP.ip))!;
    assert.equal(n.state, 'verifying', 'not failed by log lines');
    assert.equal(n.bootOnce?.quarantined, undefined);
    assert.equal(n.bootOnce?.current?.held?.source, 'syslog');
    // boot 3 (and the fallback's retries): no file of its own, so no third run of verify
    for (let i = 0; i < 3; i++) {
      await sleep(GUARD_MS + 200);
      appendFileSync(tftpLog, boot(LOOP, false));
    }
    await sleep(1500);
    assert.equal(ownFiles(LOOP), '', 'boot 3 gets the fallback, not verify');
    n = (await nodeOf(LOOP.ip))!;
    assert.equal(n.state, 'verifying');
    assert.equal(n.bootOnce?.quarantined, undefined);
    const st = await cli(['status', LOOP.ip, '-c', lab.config]);
    assert.match(st.stdout, /current verify \(rebooted without reporting at \S+ per syslog, not authoritative: boot files withdrawn/);
    const ex = await cli(['explain', LOOP.ip, '-c', lab.config]);
    assert.match(ex.stdout, /profile verify HELD: it booted again without reporting \(per syslog, not authoritative, so not failed\): no per-node files/);

    // --- FORGED: the node is running verify; a local user forges its "second boot"
    appendFileSync(tftpLog, boot(FORGED, true));
    await waitFor('FORGED boot seen', async () => /current verify \(booted/.test((await cli(['status', FORGED.ip, '-c', lab.config])).stdout), 20_000);
    await sleep(GUARD_MS + 200);
    appendFileSync(tftpLog, rrq(FORGED.ip, 'pxelinux.0'));
    await waitFor('FORGED held', async () => (await nodeOf(FORGED.ip))?.bootOnce?.current?.held !== undefined, 20_000);
    assert.equal((await nodeOf(FORGED.ip))?.state, 'verifying', 'a forged line fails nobody');
    // its verify image reports pass with the token of its boot: production
    const r = postFrom(ns, { token: forgedToken, result: 'pass', details: { memtester: 'ok' } });
    assert.equal(r.status, 200, r.out);
    await waitFor('FORGED in production', async () => (await nodeOf(FORGED.ip))?.state === 'ready' && /KERNEL vmlinuz/.test(ownFiles(FORGED)), 20_000);
    assert.deepEqual((await nodeOf(FORGED.ip))?.bootOnce?.results.map((x) => [x.profile, x.result]), [['verify', 'pass']]);

    // --- LOOP: its timeout (the daemon's clock) quarantines it, and says why
    await waitFor('LOOP quarantined by its timeout', async () => (await nodeOf(LOOP.ip))?.state === 'quarantined', (TIMEOUT_S + 20) * 1000);
    n = (await nodeOf(LOOP.ip))!;
    assert.match(n.bootOnce?.quarantined?.why ?? '', /^no result before its timeout \(it booted again without reporting, per syslog\)$/);
    assert.deepEqual(n.bootOnce?.results.map((x) => [x.profile, x.result]), [['verify', 'timeout']]);
    assert.equal(ownFiles(LOOP), '', 'no production files for it');

    await d.stop();
  });
});
