// Attack: forge a boot-once node's "second boot" in journald. With only log sources a second boot of
// an unreported verify profile holds it (files withdrawn, nothing failed), because anyone can log
// with the in.tftpd tag; a journald entry whose trusted fields (_UID from the kernel's socket
// credentials, _EXE/_COMM) show the real in.tftpd is attested and quarantines as the hook does.
// Everything is real: systemd-journald (test/integration/logs/journald.ts), tftpd-hpa's in.tftpd
// in a network namespace logging through that journald's /dev/log (its forked child runs as user
// tftp), busybox tftp as the node, logger as root and as nobody, and `pxebootd run` reading
// `journalctl -D`.
//   watcher: the events of each writer, and which are marked evidence: 'trusted'
//   daemon:  FORGED-NOBODY (logger -t in.tftpd as nobody), FORGED-COPY (nobody running a copy of
//            logger named in.tftpd) and FORGED-ROOT (root's logger -t in.tftpd) are only held;
//            REAL (in.tftpd serves the node's second boot) is quarantined.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupAll, makeNetnsPair, requireRoot, requireTool, startDaemon, tempDir, waitFor, type NetnsPair } from '../../helpers/lab.ts';
import { tftpGet } from '../../helpers/tftpd.ts';
import { startJournald, type Journald } from '../logs/journald.ts';
import { CLI, cli, leaseLine, makeLab } from '../cli/cli-lab.ts';
import { addSource, copyShippedProfiles, subnetRule } from '../../helpers/cli-lab-boot.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import { createJournalWatcher } from '../../../watchers/logs/journal-watcher.ts';
import { collectingContext } from '../../unit/watchers/logs/test-context.ts';
import type { ClientSeen } from '../../../src/types.ts';

after(cleanupAll);
requireRoot();
for (const t of ['in.tftpd', 'journalctl', 'logger', 'setpriv', 'busybox', 'exportfs', 'unshare']) requireTool(t);

const NET = `10.96.${1 + Math.floor(Math.random() * 250)}`;
const GUARD_MS = 1000;

/** journald in a dir every user can traverse (nobody must reach its dev-log socket, as on a real host) */
async function openJournald(): Promise<Journald> {
  const dir = tempDir('pxc-jev-');
  chmodSync(dir, 0o755);
  const j = await startJournald(dir);
  for (let d = path.dirname(j.devLog); d.startsWith(dir); d = path.dirname(d)) chmodSync(d, 0o755);
  return j;
}

/** tftpd-hpa as Debian runs it (--secure, -u tftp, -v), in `pair.srv`, logging to journald's /dev/log */
function startRealTftpd(pair: NetnsPair, root: string, j: Journald, dir: string): void {
  chmodSync(root, 0o755);
  const script = [
    'mount -t tmpfs -o mode=755 pxcdev /dev',
    'mknod -m 666 /dev/null c 1 3',
    `ln -s '${j.devLog}' /dev/log`,
    `exec in.tftpd -L -v -v -v --secure --address ${pair.srvIp}:69 -u tftp '${root}'`,
  ].join('\n');
  startDaemon('in.tftpd', ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script], { netns: pair.srv, logFile: path.join(dir, 'tftpd.out') });
}

/** The client namespace takes the node's address (one node at a time) and fetches `files` over TFTP. */
function fetchAs(pair: NetnsPair, ip: string, files: string[]): void {
  execFileSync('ip', ['-n', pair.cli, 'addr', 'flush', 'dev', pair.cliIf]);
  execFileSync('ip', ['-n', pair.cli, 'addr', 'add', `${ip}/24`, 'dev', pair.cliIf]);
  // in.tftpd logs the RRQ whatever it answers: only no answer at all is a broken lab
  for (const f of files) {
    const r = tftpGet(pair.cli, pair.srvIp, f, { timeoutMs: 15_000 });
    assert.ok(r.ok || /server error/i.test(r.error ?? ''), `tftp ${f} from ${ip}: ${r.error}`);
  }
}

/** A line as `logger -t in.tftpd` writes it, by `who`: root, nobody, or nobody running `exe` (a copy of logger). */
function forge(j: Journald, who: 'root' | 'nobody', message: string, exe = 'logger'): void {
  const argv = [exe, '--socket', j.devLog, '-t', 'in.tftpd', '-p', 'daemon.info', '--', message];
  if (who === 'root') execFileSync(argv[0]!, argv.slice(1));
  else execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv]);
}

/** The journal's in.tftpd entries (for failure messages). */
function journalDump(j: Journald): string {
  return execFileSync('journalctl', ['-D', j.journalDir, '-o', 'json', '--no-pager', 'SYSLOG_IDENTIFIER=in.tftpd'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify({ m: o.MESSAGE, uid: o._UID, exe: o._EXE, comm: o._COMM });
    })
    .join(' ');
}

/** A copy of logger named in.tftpd where nobody can run it: _COMM says in.tftpd, _UID says nobody. */
function loggerCopy(): string {
  const dir = tempDir('pxc-jev-bin-');
  chmodSync(dir, 0o755);
  const exe = path.join(dir, 'in.tftpd');
  copyFileSync(execFileSync('sh', ['-c', 'command -v logger'], { encoding: 'utf8' }).trim(), exe);
  chmodSync(exe, 0o755);
  return exe;
}

describe('journald: a forged second boot only holds, the real in.tftpd\'s quarantines', () => {
  test('watcher: only entries from the real in.tftpd (uid tftp, _EXE in.tftpd) are marked trusted', async (t) => {
    const dir = tempDir('pxc-jev-w-');
    const j = await openJournald();
    const pair = makeNetnsPair('jev', { subnet: NET });
    const root = path.join(dir, 'tftp');
    mkdirSync(root);
    writeFileSync(path.join(root, 'pxelinux.0'), 'nbp');
    chmodSync(path.join(root, 'pxelinux.0'), 0o644);
    startRealTftpd(pair, root, j, dir);
    const c = collectingContext({ type: 'journal', identifiers: ['in.tftpd'], directory: j.journalDir }, {}, createRunner(silentLogger()));
    const w = createJournalWatcher(c.ctx);
    t.after(() => w.stop());
    await w.start();
    await sleep(700); // journalctl -f starts at the end (-n 0)
    const copy = loggerCopy();
    forge(j, 'nobody', `RRQ from ${NET}.11 filename pxelinux.0`);
    forge(j, 'nobody', `RRQ from ${NET}.12 filename pxelinux.0`, copy);
    forge(j, 'root', `RRQ from ${NET}.13 filename pxelinux.0`);
    await waitFor('in.tftpd to listen', () => execFileSync('ip', ['netns', 'exec', pair.srv, 'ss', '-Hlun'], { encoding: 'utf8' }).includes(`${pair.srvIp}:69`), 10_000, 50);
    fetchAs(pair, `${NET}.14`, ['pxelinux.0']);
    await waitFor('four events', () => c.events.length >= 4, 20_000).catch((e: Error) => {
      throw new Error(`${e.message}; events ${JSON.stringify(c.events)}; journal: ${journalDump(j)}`);
    });
    const byIp = new Map((c.events as ClientSeen[]).map((e) => [e.ip, e.evidence]));
    assert.deepEqual(Object.fromEntries(byIp), { [`${NET}.11`]: undefined, [`${NET}.12`]: undefined, [`${NET}.13`]: undefined, [`${NET}.14`]: 'trusted' });
    // trusted_users: [] turns the tier off: the same real line is not trusted
    const off = collectingContext({ type: 'journal', identifiers: ['in.tftpd'], directory: j.journalDir, trusted_users: [] }, {}, createRunner(silentLogger()));
    const w2 = createJournalWatcher(off.ctx);
    t.after(() => w2.stop());
    await w2.start();
    await sleep(700);
    fetchAs(pair, `${NET}.15`, ['pxelinux.0']);
    await waitFor('the event with trusted_users: []', () => off.events.length >= 1, 20_000);
    assert.equal((off.events[0] as ClientSeen).evidence, undefined);
  });

  test('daemon: FORGED-NOBODY, FORGED-COPY and FORGED-ROOT are held (not failed); REAL is quarantined', async () => {
    const nodes = {
      nobody: { ip: `${NET}.150`, mac: '52:54:00:b2:01:50' },
      copy: { ip: `${NET}.151`, mac: '52:54:00:b2:01:51' },
      root: { ip: `${NET}.152`, mac: '52:54:00:b2:01:52' },
      real: { ip: `${NET}.153`, mac: '52:54:00:b2:01:53' },
    };
    const j = await openJournald();
    const lab = makeLab({
      subnetExtra: subnetRule(`${NET}.128/25`, ['first_boot: [verify]']),
      extra: `boot_guard_ms: ${GUARD_MS}
profiles:
  verify: { pxe_template: profiles/verify.pxelinux, done_when: reported, timeout: 1h }
report: { listen: "127.0.0.1:${20_000 + Math.floor(Math.random() * 20_000)}" }
`,
    });
    copyShippedProfiles(lab, ['verify.pxelinux']);
    addSource(lab, `{ type: journal, directory: ${j.journalDir} }`);
    // what a booting node fetches, readable by in.tftpd's child (user tftp, chrooted)
    mkdirSync(path.join(lab.tftp, 'verify'));
    for (const f of ['pxelinux.0', 'verify/vmlinuz', 'verify/verify.cpio.gz']) writeFileSync(path.join(lab.tftp, f), f, { mode: 0o644 });
    chmodSync(path.join(lab.tftp, 'verify'), 0o755);
    const pair = makeNetnsPair('jev', { subnet: NET });
    startRealTftpd(pair, lab.tftp, j, lab.dir);
    const copy = loggerCopy();

    const logFile = path.join(lab.dir, 'daemon.log');
    const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    await waitFor('daemon started', () => read(logFile).includes('pxebootd started'), 30_000);
    interface StatusNode { ip: string; state: string; timeline?: Array<{ what: string }>; bootOnce?: { current?: { held?: { source?: string } }; quarantined?: { why: string }; results: Array<{ profile: string; result: string }> } }
    const all = async () => {
      const r = await cli(['status', '--json', '-c', lab.config]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { nodes: StatusNode[] }).nodes;
    };
    const nodeOf = async (ip: string) => (await all()).find((n) => n.ip === ip);
    const cfgOf = (n: { mac: string }) => path.join(lab.tftp, 'pxelinux.cfg', `01-${n.mac.replace(/:/g, '-')}`);

    appendFileSync(lab.leases, Object.values(nodes).map((n) => leaseLine(n.mac, n.ip)).join(''));
    await waitFor('all four verifying with verify files', async () => {
      const ns = await all();
      return Object.values(nodes).every((n) => ns.find((x) => x.ip === n.ip)?.state === 'verifying' && /LINUX verify\/vmlinuz/.test(read(cfgOf(n))));
    }, 60_000);

    // boot 1 of each node, served by the real in.tftpd: verify runs (and cannot report)
    for (const n of Object.values(nodes)) {
      fetchAs(pair, n.ip, ['pxelinux.0', `pxelinux.cfg/01-${n.mac.replace(/:/g, '-')}`, 'verify/vmlinuz', 'verify/verify.cpio.gz']);
      await waitFor(`boot 1 of ${n.ip} seen`, async () => /current verify \(booted/.test((await cli(['status', n.ip, '-c', lab.config])).stdout), 30_000);
    }
    await sleep(GUARD_MS + 500);

    // forged second boots: three writers that are not the daemon
    forge(j, 'nobody', `RRQ from ${nodes.nobody.ip} filename pxelinux.0`);
    forge(j, 'nobody', `RRQ from ${nodes.copy.ip} filename pxelinux.0`, copy);
    forge(j, 'root', `RRQ from ${nodes.root.ip} filename pxelinux.0`);
    for (const k of ['nobody', 'copy', 'root'] as const) {
      await waitFor(`${k} held`, async () => (await nodeOf(nodes[k].ip))?.bootOnce?.current?.held !== undefined, 30_000);
      const n = (await nodeOf(nodes[k].ip))!;
      assert.equal(n.state, 'verifying', `${k}: a forged journald line fails nobody`);
      assert.equal(n.bootOnce?.quarantined, undefined, k);
      assert.equal(n.bootOnce?.current?.held?.source, 'journal', k);
      assert.equal(read(cfgOf(nodes[k])), '', `${k}: its verify files are withdrawn`);
    }

    // the daemon says once per reason why such entries are not attested
    await waitFor('the not-attested reasons in the log', () => /not attested as the daemon's \(_UID 65534 is not a trusted user\)/.test(read(logFile)) && /not attested as the daemon's \((_EXE \/usr\/bin\/logger|_COMM logger) is not in\.tftpd|root, and neither _EXE nor _COMM/.test(read(logFile)), 20_000);
    assert.equal(read(logFile).split('_UID 65534 is not a trusted user)').length - 1, 1, 'said once per reason, in the message');

    // the real second boot: in.tftpd serves pxelinux.0 to the node again
    fetchAs(pair, nodes.real.ip, ['pxelinux.0']);
    await waitFor('REAL quarantined', async () => (await nodeOf(nodes.real.ip))?.state === 'quarantined', 30_000);
    const real = (await nodeOf(nodes.real.ip))!;
    assert.equal(real.bootOnce?.quarantined?.why, 'booted again without reporting');
    assert.deepEqual(real.bootOnce?.results.map((r) => [r.profile, r.result]), [['verify', 'rebooted']]);
    assert.equal(real.bootOnce?.current, undefined);
    assert.ok(real.timeline?.some((e) => e.what === 'profile verify: rebooted (per journal, sender attested)'), JSON.stringify(real.timeline));
    await waitFor('REAL gets no per-node files (no quarantine profile: the fallback)', () => read(cfgOf(nodes.real)) === '', 20_000);

    // the forged ones are still only held
    for (const k of ['nobody', 'copy', 'root'] as const) assert.equal((await nodeOf(nodes[k].ip))?.state, 'verifying', k);
    await d.stop();
  });
});
