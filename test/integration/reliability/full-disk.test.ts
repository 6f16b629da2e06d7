// A full disk while writing state: state_dir sits on a tiny tmpfs of our own, filled to the last
// byte while new clients arrive. The state files on disk stay whole and parseable with every node
// they held, the daemon keeps running, no node is exported with an fsid that is not on disk, and
// once space is freed the new nodes become ready and are persisted.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, sh, waitFor } from '../../helpers/lab.ts';
import { client, leaseLine, makeLab, rewriteInPlace, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { readExports, toStatusNodes } from './invariants.ts';
import { readFsidsOnDisk } from '../../helpers/fsids-on-disk.ts';
import { readStateOnDisk } from '../../helpers/state-on-disk.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

describe('full disk under state_dir', () => {
  after(cleanupAll);

  test('old state intact, daemon alive, heals when space returns', { timeout: 120_000 }, async () => {
    requireRoot();
    const lab = makeLab('fulldisk');
    const stateDir = path.join(lab.dir, 'tinystate');
    mkdirSync(stateDir);
    sh('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'pxgstate', stateDir]);
    onCleanup(`umount ${stateDir}`, () => sh('umount', ['-l', stateDir], { allowFail: true }));
    const cfg = writeConfig(lab, { stateDir, retryBaseMs: 100, retryMaxMs: 1000 });
    const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd.log'));
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const first = Array.from({ length: 3 }, (_, i) => client(99, i + 1));
    rewriteInPlace(lab.leases, first.map((c) => leaseLine(c, expiry)).join(''));
    const ready = await waitFor('3 ready and persisted', () => {
      const n = toStatusNodes(statusJson(cfg));
      if (n.length !== 3 || n.some((x) => x.state !== 'ready')) return undefined;
      const st = readStateOnDisk(stateDir).nodes;
      return n.every((x) => st.get(x.name)?.state === 'ready') ? n : undefined;
    }, 30_000, 200);
    await sleep(500); // let lazy writes settle
    const fsidsBefore = readFsidsOnDisk(stateDir);
    // new fsids are appended to fsids.log, and an append that fits in the file's last block needs no
    // free space: fill that block with (valid) repeats of a line it holds, so the next one needs a block
    const journal = path.join(stateDir, 'fsids.log');
    const line = (pad: number) => `{"name":${JSON.stringify(ready[0]!.name)},${' '.repeat(pad)}"fsid":${ready[0]!.fsid}}\n`;
    let rest = 4096 - (statSync(journal).size % 4096);
    if (rest < line(0).length) rest += 4096;
    const padding: string[] = [];
    for (; rest >= line(0).length * 2; rest -= line(0).length) padding.push(line(0));
    padding.push(line(rest - line(0).length));
    appendFileSync(journal, padding.join(''));
    assert.equal(statSync(journal).size % 4096, 0);

    // fill the file system to the last block
    sh('sh', ['-c', `dd if=/dev/zero of=${stateDir}/filler bs=4k 2>/dev/null; dd if=/dev/zero of=${stateDir}/filler2 bs=1 2>/dev/null; true`]);
    assert.match(sh('df', ['--output=avail', stateDir]), /\n\s*0\s*$/);

    const more = Array.from({ length: 3 }, (_, i) => client(99, i + 10));
    rewriteInPlace(lab.leases, [...first, ...more].map((c) => leaseLine(c, expiry)).join(''));
    await sleep(3000);

    assert.ok(existsSync(`/proc/${d.pid}`), 'daemon died on a full disk');
    const fsidsNow = readFsidsOnDisk(stateDir);
    if (existsSync(path.join(stateDir, 'state.json'))) readJson(path.join(stateDir, 'state.json')); // parses: whole, not truncated
    const stateNow = readStateOnDisk(stateDir).nodes; // state.json + state.log: every whole line parses
    for (const n of ready) {
      assert.equal((fsidsNow.fsids as Record<string, number>)[n.name], n.fsid, `fsid of ${n.name} on disk`);
      assert.equal(stateNow.get(n.name)?.state, 'ready', `${n.name} still ready in state.json + state.log`);
    }
    assert.deepEqual(Object.keys(fsidsNow.fsids as object).sort(), Object.keys(fsidsBefore.fsids as object).sort(), 'the fsids on disk (fsids.json, fsids.log) changed although the disk is full');
    // nothing may be exported with an fsid that is not durable
    const onDisk = new Set(Object.values(fsidsNow.fsids as Record<string, number>));
    for (const l of readExports(lab.exportsFile).lines) assert.ok(onDisk.has(l.fsid), `exported ${l.path} with fsid ${l.fsid}, which is not on disk`);
    const nodes = toStatusNodes(statusJson(cfg));
    assert.ok(nodes.length >= 3, 'status still answers');
    // a new node's fsid cannot be made durable, so it must not be ready (exported) yet
    for (const c of more) {
      const n = nodes.find((x) => x.ip === c.ip);
      assert.notEqual(n?.state, 'ready', `${c.ip} became ready while its fsid could not be written`);
      if (n) assert.match(n.lastError ?? '', /ENOSPC|no space/i, `${c.ip} lastError`);
    }

    rmSync(path.join(stateDir, 'filler'));
    rmSync(path.join(stateDir, 'filler2'), { force: true });
    await waitFor('6 ready after space returns', () => {
      const n = toStatusNodes(statusJson(cfg));
      return n.length === 6 && n.every((x) => x.state === 'ready');
    }, 30_000, 200);
    await waitFor('new fsids persisted', () => Object.keys(readFsidsOnDisk(stateDir).fsids).length === 6, 10_000, 200);
    await d.stop();
  });
});
