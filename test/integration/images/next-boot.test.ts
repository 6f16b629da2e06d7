// Images, the daemon's half: nodes of `image:` rules boot on its current version; a version added
// and promoted while they run changes nothing until their next boot (a tftpd-hpa RRQ line for
// pxelinux.0 in a syslog source), which switches them in the config-last order with the same fsid:
// carry keeps the node's files (and its deletions) on the new version, fresh sets the old upper
// aside (and brings it back at a rollback), ephemeral starts empty. Real daemon, overlay mounts,
// exportfs, image CLI.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, startDaemon, tempDir, waitFor } from '../../helpers/lab.ts';
import { CLI, cli, leaseLine, makeLab, type Lab } from '../cli/cli-lab.ts';
import { addTftpLogSource, subnetRule } from '../../helpers/cli-lab-boot.ts';

after(cleanupAll);
requireRoot();
requireTool('exportfs');
requireTool('mount');
requireTool('rsync');

const GUARD_MS = 1500;
const CARRY = { ip: '10.99.2.10', mac: '52:54:00:aa:02:10', node: '0A63020A' };
const FRESH = { ip: '10.99.3.10', mac: '52:54:00:aa:03:10', node: '0A63030A' };
const EPH = { ip: '10.99.4.10', mac: '52:54:00:aa:04:10', node: '0A63040A' };

interface StatusNode {
  name: string;
  state: string;
  fsid: number;
  image?: string;
  image_version?: string;
  next_image_version?: string;
  timeline?: Array<{ what: string }>;
}

async function nodes(lab: Lab): Promise<Map<string, StatusNode>> {
  const r = await cli(['status', '--json', '-c', lab.config]);
  assert.equal(r.code, 0, r.stderr);
  return new Map((JSON.parse(r.stdout) as { nodes: StatusNode[] }).nodes.map((n) => [n.name, n]));
}

const rrq = (ip: string, file: string) => `${new Date().toISOString().replace('Z', '000+00:00')} vm in.tftpd[18342]: RRQ from ${ip} filename ${file}\n`;

const exportLine = (lab: Lab, mp: string) => readFileSync(lab.exportsFile, 'utf8').split('\n').find((l) => l.startsWith(`${mp} `));
const etabLine = (mp: string, ip: string) => readFileSync('/var/lib/nfs/etab', 'utf8').split('\n').find((l) => l.startsWith(`${mp}\t${ip}(`));
const lowerOf = (mp: string) => {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (pre?.split(' ')[4] === mp) return /(?:^|,)lowerdir=([^,]+)/.exec(post!.split(' ')[2] ?? '')?.[1];
  }
  return undefined;
};

/** An image source tree: its release marker, a file the node deletes, /etc/hostname. */
function source(dir: string, release: string, extra: Record<string, string> = {}): string {
  mkdirSync(path.join(dir, 'etc'), { recursive: true });
  writeFileSync(path.join(dir, 'etc/release'), `${release}\n`);
  writeFileSync(path.join(dir, 'etc/hostname'), 'lower\n');
  writeFileSync(path.join(dir, 'etc/doomed'), 'delete me\n');
  for (const [f, t] of Object.entries(extra)) writeFileSync(path.join(dir, f), t);
  return dir;
}

async function imageCmd(lab: Lab, args: string[]): Promise<string> {
  const r = await cli(['image', ...args, '-c', lab.config]);
  assert.equal(r.code, 0, `image ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function makeImageLab(): { lab: Lab; tftpLog: string; src: string } {
  const rule = (cidr: string, keys: string[]) => subnetRule(cidr, keys, { image: 'base' });
  const lab = makeLab({
    subnetExtra: rule('10.99.2.0/24', []) + rule('10.99.3.0/24', ['on_image_change: fresh']) + rule('10.99.4.0/24', ['overlay: ephemeral']),
    extra: `boot_guard_ms: ${GUARD_MS}\nimages_dir: images\n`,
  });
  return { lab, tftpLog: addTftpLogSource(lab), src: tempDir('pxe-img-src-') };
}

describe('images: next-boot switch', () => {
  test('version 2 promoted while nodes run changes nothing until their next boot; then carry, fresh and ephemeral switch with the same fsid; rollback; prune', async () => {
    const { lab, tftpLog, src } = makeImageLab();
    const v1 = await imageCmd(lab, ['add', 'base', source(path.join(src, 'v1'), 'v1')]);
    const logFile = path.join(lab.dir, 'daemon.log');
    startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile, env: { ...process.env, PXEBOOTD_LOG_LEVEL: 'debug' } });
    const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    await waitFor('daemon started', () => log().includes('pxebootd started'), 20_000);

    appendFileSync(lab.leases, [CARRY, FRESH, EPH].map((n) => leaseLine(n.mac, n.ip)).join(''));
    await waitFor('three ready', async () => [...(await nodes(lab)).values()].filter((n) => n.state === 'ready').length === 3, 30_000);
    const first = await nodes(lab);
    for (const n of [CARRY, FRESH, EPH]) {
      const s = first.get(n.node)!;
      assert.equal(s.image, 'base');
      assert.equal(s.image_version, v1);
      assert.equal(s.next_image_version, undefined);
    }

    const merged = (n: typeof CARRY) => path.join(lab.dir, 'run/node', n.node);
    const upper = (n: typeof CARRY) => path.join(lab.dir, 'run/overlay', n.node, 'upper');
    const cfg = (n: typeof CARRY) => path.join(lab.tftp, 'pxelinux.cfg', `01-${n.mac.replace(/:/g, '-')}`);
    // each client writes its own file, changes a file of the image and deletes another
    for (const n of [CARRY, FRESH, EPH]) {
      writeFileSync(path.join(merged(n), 'etc/mine'), `${n.node}\n`);
      writeFileSync(path.join(merged(n), 'etc/hostname'), `${n.node}\n`);
      unlinkSync(path.join(merged(n), 'etc/doomed'));
    }
    const before = new Map([CARRY, FRESH, EPH].map((n) => [n.node, { line: exportLine(lab, merged(n))!, etab: etabLine(merged(n), n.ip)!, fsid: first.get(n.node)!.fsid }]));

    // version 2, promoted while they run: their view stays version 1
    const v2 = await imageCmd(lab, ['add', 'base', source(path.join(src, 'v2'), 'v2', { 'etc/added-in-v2': 'new\n' }), '--promote']);
    assert.notEqual(v2, v1);
    for (const n of [CARRY, FRESH, EPH]) {
      assert.equal(readFileSync(path.join(merged(n), 'etc/release'), 'utf8'), 'v1\n', `${n.node} still sees v1`);
      assert.equal(existsSync(path.join(merged(n), 'etc/added-in-v2')), false);
      assert.equal(lowerOf(merged(n)), path.join(lab.dir, 'images/base', v1));
    }
    const promoted = await nodes(lab);
    for (const n of [CARRY, FRESH, EPH]) {
      assert.equal(promoted.get(n.node)!.image_version, v1);
      assert.equal(promoted.get(n.node)!.next_image_version, v2, 'status says what the next boot mounts');
    }

    // the next boot: past the guard, a pxelinux.0 request of each
    await new Promise((r) => setTimeout(r, GUARD_MS + 200));
    const mark = log().length;
    appendFileSync(tftpLog, [CARRY, FRESH, EPH].map((n) => rrq(n.ip, 'pxelinux.0')).join(''));
    await waitFor('all on v2', async () => [...(await nodes(lab)).values()].every((s) => s.image_version === v2 && s.state === 'ready'), 30_000);
    const switched = await nodes(lab);
    for (const n of [CARRY, FRESH, EPH]) {
      assert.equal(readFileSync(path.join(merged(n), 'etc/release'), 'utf8'), 'v2\n', `${n.node} on v2`);
      assert.equal(readFileSync(path.join(merged(n), 'etc/added-in-v2'), 'utf8'), 'new\n', `${n.node}: its copied-up /etc merges with v2's`);
      assert.equal(lowerOf(merged(n)), path.join(lab.dir, 'images/base', v2));
      assert.equal(exportLine(lab, merged(n)), before.get(n.node)!.line, `${n.node}: the same export line, fsid included`);
      assert.equal(etabLine(merged(n), n.ip), before.get(n.node)!.etab, `${n.node}: live with the same fsid`);
      assert.equal(switched.get(n.node)!.fsid, before.get(n.node)!.fsid);
      assert.ok(existsSync(cfg(n)), `${n.node}: boot files back`);
      assert.equal(switched.get(n.node)!.next_image_version, undefined);
    }
    // carry: its own file, its change and its deletion stay
    assert.equal(readFileSync(path.join(merged(CARRY), 'etc/mine'), 'utf8'), `${CARRY.node}\n`);
    assert.equal(readFileSync(path.join(merged(CARRY), 'etc/hostname'), 'utf8'), `${CARRY.node}\n`);
    assert.equal(existsSync(path.join(merged(CARRY), 'etc/doomed')), false, 'the whiteout stays');
    // fresh: an empty upper; the old one kept with v1
    assert.equal(existsSync(path.join(merged(FRESH), 'etc/mine')), false);
    assert.equal(readFileSync(path.join(merged(FRESH), 'etc/hostname'), 'utf8'), 'lower\n');
    const kept = path.join(lab.dir, 'run/overlay', FRESH.node, 'by-version', v1, 'upper');
    assert.equal(readFileSync(path.join(kept, 'etc/mine'), 'utf8'), `${FRESH.node}\n`);
    // ephemeral: empty
    assert.equal(existsSync(path.join(merged(EPH), 'etc/mine')), false);
    assert.equal(existsSync(path.join(upper(EPH), 'etc/mine')), false);

    // config last, backwards then forwards, for the carried node
    const after1 = log().slice(mark);
    const at = (re: RegExp, from = 0) => {
      const i = after1.slice(from).search(re);
      assert.ok(i >= 0, `${re} in the daemon log:\n${after1}`);
      return from + i;
    };
    const sw = at(new RegExp(`node ${CARRY.node}: image base ${v1} -> ${v2} at its boot: upper carried`));
    const umount = at(new RegExp(`ran: \\S*umount ${merged(CARRY)}`));
    const mount = at(new RegExp(`ran: \\S*mount -t overlay overlay -o lowerdir=${path.join(lab.dir, 'images/base', v2)},upperdir=${upper(CARRY)}`));
    const ready = at(new RegExp(`node ${CARRY.node} ready`), mount);
    assert.ok(umount < sw && sw < mount && mount < ready, JSON.stringify({ umount, sw, mount, ready }));
    assert.doesNotMatch(after1, /stale file handle/i);

    // rollback: v1 is current again; at the next boot the carried node goes back with its files, the fresh one gets its v1 upper back
    await imageCmd(lab, ['rollback', 'base']);
    assert.equal((await nodes(lab)).get(CARRY.node)!.next_image_version, v1);
    await new Promise((r) => setTimeout(r, GUARD_MS + 200));
    appendFileSync(tftpLog, [CARRY, FRESH].map((n) => rrq(n.ip, 'pxelinux.0')).join(''));
    await waitFor('carry and fresh back on v1', async () => {
      const s = await nodes(lab);
      return [CARRY, FRESH].every((n) => s.get(n.node)!.image_version === v1 && s.get(n.node)!.state === 'ready');
    }, 30_000);
    assert.equal(readFileSync(path.join(merged(CARRY), 'etc/release'), 'utf8'), 'v1\n');
    assert.equal(readFileSync(path.join(merged(CARRY), 'etc/mine'), 'utf8'), `${CARRY.node}\n`);
    assert.equal(existsSync(path.join(merged(CARRY), 'etc/added-in-v2')), false);
    assert.equal(readFileSync(path.join(merged(FRESH), 'etc/mine'), 'utf8'), `${FRESH.node}\n`, 'the v1 upper came back');
    assert.equal(existsSync(path.join(merged(FRESH), 'etc/doomed')), false);
    assert.ok(existsSync(path.join(lab.dir, 'run/overlay', FRESH.node, 'by-version', v2, 'upper')), 'the v2 upper is kept in turn');
    assert.equal(exportLine(lab, merged(CARRY)), before.get(CARRY.node)!.line);

    // prune: v1 is current, v2 runs on the ephemeral node, v3 (never promoted) is unused: only v3 goes
    const v3 = await imageCmd(lab, ['add', 'base', source(path.join(src, 'v3'), 'v3')]);
    const pruned = await imageCmd(lab, ['prune', 'base', '--keep', '0']);
    assert.match(pruned, new RegExp(v3));
    const left = readdirSync(path.join(lab.dir, 'images/base')).filter((e) => e !== 'current' && e !== 'history' && !e.startsWith('.'));
    assert.deepEqual(left.sort(), [v1, v2].sort());
    // the ephemeral node boots again: onto v1; now v2 is unused and goes
    await new Promise((r) => setTimeout(r, GUARD_MS + 200));
    appendFileSync(tftpLog, rrq(EPH.ip, 'pxelinux.0'));
    await waitFor('ephemeral on v1', async () => (await nodes(lab)).get(EPH.node)!.image_version === v1 && (await nodes(lab)).get(EPH.node)!.state === 'ready', 30_000);
    await imageCmd(lab, ['prune', 'base', '--keep', '0']);
    assert.deepEqual(readdirSync(path.join(lab.dir, 'images/base')).filter((e) => e !== 'current' && e !== 'history' && !e.startsWith('.')), [v1]);
    assert.equal(readFileSync(path.join(merged(EPH), 'etc/release'), 'utf8'), 'v1\n');
    rmSync(src, { recursive: true, force: true });
  });
});
