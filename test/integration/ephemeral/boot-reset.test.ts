// overlay: ephemeral means a fresh upper at each boot, also when the client keeps its lease: a real
// daemon (`pxebootd run`), real overlay mounts and exportfs, a syslog source fed a real tftpd-hpa
// line. The ephemeral node loses what its client wrote; a persistent node fed the same line keeps it.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, startDaemon, waitFor } from '../../helpers/lab.ts';
import { CLI, cli, leaseLine, makeLab, type Lab } from '../cli/cli-lab.ts';
import { addTftpLogSource, subnetRule } from '../../helpers/cli-lab-boot.ts';

after(cleanupAll);
requireRoot();
requireTool('exportfs');
requireTool('mount');

/** Short guard so the test need not wait 30 s; the default is BOOT_GUARD_MS. */
const GUARD_MS = 6000; // the first boot's own NBP fetch must land inside it even on a loaded CI machine
const EPH = { ip: '10.99.1.10', mac: '52:54:00:aa:01:10', node: '0A63010A' };
const PER = { ip: '10.99.0.10', mac: '52:54:00:aa:00:10', node: '0A63000A' };

interface StatusNode {
  name: string;
  state: string;
  fsid: number;
  timeline?: Array<{ what: string }>;
}

async function nodes(lab: Lab): Promise<StatusNode[]> {
  const r = await cli(['status', '--json', '-c', lab.config]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { nodes: StatusNode[] }).nodes;
}

/** The lab's config plus an ephemeral subnet, a short guard and a syslog source for tftpd-hpa lines. */
function makeBootLab(): { lab: Lab; tftpLog: string } {
  const lab = makeLab({
    subnetExtra: subnetRule('10.99.1.0/24', ['overlay: ephemeral']),
    extra: `boot_guard_ms: ${GUARD_MS}\n`,
  });
  return { lab, tftpLog: addTftpLogSource(lab) };
}

/** A tftpd-hpa line as rsyslog writes it on Debian 12. */
const rrq = (ip: string, file: string) => `${new Date().toISOString().replace('Z', '000+00:00')} vm in.tftpd[18342]: RRQ from ${ip} filename ${file}\n`;

/** mountinfo fields of the overlay at `mp`, or undefined. */
function mountOf(mp: string): { fstype: string; superOpts: string } | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post || pre.split(' ')[4] !== mp) continue;
    const [fstype, , superOpts] = post.split(' ');
    return { fstype: fstype!, superOpts: superOpts ?? '' };
  }
  return undefined;
}

const exportLine = (lab: Lab, mp: string) => readFileSync(lab.exportsFile, 'utf8').split('\n').find((l) => l.startsWith(`${mp} `));
const etabLine = (mp: string, ip: string) => readFileSync('/var/lib/nfs/etab', 'utf8').split('\n').find((l) => l.startsWith(`${mp}\t${ip}(`));

describe('overlay: ephemeral resets at each boot', () => {
  test('a new NBP request resets the ephemeral node (same fsid, boot files back); the persistent node keeps its files', async () => {
    const { lab, tftpLog } = makeBootLab();
    const logFile = path.join(lab.dir, 'daemon.log');
    // debug: the runner logs every command it ran, so the log shows the order of the steps
    startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile, env: { ...process.env, PXEBOOTD_LOG_LEVEL: 'debug' } });
    const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    await waitFor('daemon started', () => log().includes('pxebootd started'), 20_000);

    appendFileSync(lab.leases, leaseLine(EPH.mac, EPH.ip) + leaseLine(PER.mac, PER.ip));
    await waitFor('both ready', async () => (await nodes(lab)).filter((n) => n.state === 'ready').length === 2, 20_000);

    const paths = (n: typeof EPH) => ({
      merged: path.join(lab.dir, 'run/node', n.node),
      upper: path.join(lab.dir, 'run/overlay', n.node, 'upper'),
      cfg: path.join(lab.tftp, 'pxelinux.cfg', `01-${n.mac.replace(/:/g, '-')}`),
    });
    const e = paths(EPH);
    const p = paths(PER);
    // the client writes into its root over NFS: here, straight into the merged dir
    for (const x of [e, p]) writeFileSync(path.join(x.merged, 'written-by-client'), 'state\n');
    assert.ok(existsSync(path.join(e.upper, 'written-by-client')), 'the write went to the upper layer');
    const before = { line: exportLine(lab, e.merged)!, etab: etabLine(e.merged, EPH.ip)!, cfg: readFileSync(e.cfg, 'utf8') };
    assert.match(before.line, /fsid=\d+/);
    assert.ok(before.etab, 'exported before the reboot');
    const fsid = (await nodes(lab)).find((n) => n.name === EPH.node)!.fsid;

    // within the guard: the first boot's own NBP fetch changes nothing
    appendFileSync(tftpLog, rrq(EPH.ip, 'pxelinux.0'));
    await waitFor('tftp in the timeline', async () => (await nodes(lab)).find((n) => n.name === EPH.node)?.timeline?.some((t) => t.what === 'tftp pxelinux.0'), 10_000);
    assert.doesNotMatch(log(), /is booting again/);

    // the reboot, past the guard, with its usual repeated fetch a moment later
    await new Promise((r) => setTimeout(r, GUARD_MS + 200));
    const mark = log().length;
    appendFileSync(tftpLog, rrq(EPH.ip, 'pxelinux.0') + rrq(PER.ip, 'pxelinux.0'));
    await waitFor('reset done', () => log().includes('ready with a fresh ephemeral layer'), 20_000);
    appendFileSync(tftpLog, rrq(EPH.ip, 'pxelinux.0') + rrq(EPH.ip, 'pxelinux.cfg/01-52-54-00-aa-01-10'));
    await waitFor('persistent boot recorded', async () => (await nodes(lab)).find((n) => n.name === PER.node)?.timeline?.some((t) => t.what === 'boot (persistent: layer kept)'), 10_000);
    await waitFor('repeat fetch seen', async () => (await nodes(lab)).find((n) => n.name === EPH.node)?.timeline?.some((t) => t.what === 'tftp pxelinux.cfg/01-52-54-00-aa-01-10'), 10_000);

    const after = log().slice(mark);
    assert.equal(after.match(/resetting its ephemeral layer/g)?.length, 1, 'one reset per boot');
    // config last, then the layer: boot files removed before the unexport, umount before the wipe,
    // mount before the export, export before the boot files
    const at = (re: RegExp) => {
      const i = after.search(re);
      assert.ok(i >= 0, `${re} in the daemon log:\n${after}`);
      return i;
    };
    // an export change is live once its batch is flushed, whether it ran `exportfs -r` or (after the
    // first verified batch) edited etab in place: the flush line marks it in both cases
    const unexport = at(/export batch flushed/);
    const umount = at(new RegExp(`ran: \\S*umount ${e.merged}`));
    const wipe = at(new RegExp(`deleted the writable layer of ${EPH.node}`));
    const mount = at(/ran: \S*mount -t overlay overlay/);
    const reexport = unexport + 1 + after.slice(unexport + 1).search(/export batch flushed/);
    const ready = at(/ready with a fresh ephemeral layer/);
    const order = { unexport, umount, wipe, mount, reexport, ready };
    assert.ok(unexport < umount && umount < wipe && wipe < mount && mount < reexport && reexport < ready, `order: ${JSON.stringify(order)}`);
    assert.equal(after.match(new RegExp(`deleted the writable layer of ${EPH.node}`, 'g'))?.length, 1, 'the layer is wiped once');

    // the ephemeral node: fresh layer, mounted and exported again with the same fsid, boot files back
    assert.equal(existsSync(path.join(e.merged, 'written-by-client')), false, 'gone from the merged dir');
    assert.equal(existsSync(path.join(e.upper, 'written-by-client')), false, 'gone from upper');
    assert.ok(existsSync(path.join(e.merged, 'etc/hostname')), 'the lower layer shows through');
    const m = mountOf(e.merged);
    assert.equal(m?.fstype, 'overlay');
    assert.match(m!.superOpts, /(^|,)nfs_export=on(,|$)/);
    assert.equal(exportLine(lab, e.merged), before.line, 'the same export line, fsid included');
    assert.match(before.line, new RegExp(`fsid=${fsid}\\b`));
    assert.equal(etabLine(e.merged, EPH.ip), before.etab, 'live again with the same options and fsid');
    assert.equal(readFileSync(e.cfg, 'utf8'), before.cfg, 'boot files written again');
    const eph = (await nodes(lab)).find((n) => n.name === EPH.node)!;
    assert.equal(eph.state, 'ready');
    assert.equal(eph.fsid, fsid);
    assert.ok(eph.timeline?.some((t) => t.what === 'boot (ephemeral reset)'));

    // the persistent node: untouched
    assert.equal(readFileSync(path.join(p.merged, 'written-by-client'), 'utf8'), 'state\n');
    assert.ok(etabLine(p.merged, PER.ip));
    assert.ok(existsSync(p.cfg));
    assert.doesNotMatch(after, new RegExp(`umount ${p.merged}`));
  });
});
