// SIGKILL while node records are appended to state.log and folded into state.json (a small bound,
// so folds, with their rotation to state.log.old, run all the time): after each kill, what a restart
// reads (state.json, state.log.old, state.log) must hold every acknowledged change (commit()
// resolved) in that version or a newer one: the last acknowledged put of a node (its state and
// sequence) or its removal. The restart itself must succeed (a torn line is no reason to refuse).
// Seeded: PXG_SEED, PXG_ROUNDS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStateStore } from '../../../src/state/store.ts';
import { silentLogger } from '../../../src/log.ts';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';
import { mulberry32 as rng } from '../../helpers/prng.ts';
import { readStateOnDisk } from '../../helpers/state-on-disk.ts';
import { killAfterLoaded } from '../../helpers/sigkill-writer.ts';

after(cleanupAll);

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEED = Number(process.env.PXG_SEED ?? Date.now() % 100_000);
const ROUNDS = Number(process.env.PXG_ROUNDS ?? 12);

/** A change the writer made (try) or had acknowledged (ack): a put (state, sequence, fsid) or a removal. */
type Change = { del: boolean; seq: number; state?: string; fsid?: number };

/** Run the writer until `killAfterMs` past its start-up, SIGKILL it; per node its last acknowledged change and every change tried. */
async function round(dir: string, r: number, bound: number, killAfterMs: number): Promise<{ acked: Map<string, Change>; tried: Map<string, Change[]> }> {
  const acked = new Map<string, Change>();
  const tried = new Map<string, Change[]>();
  await killAfterLoaded(path.join(HERE, 'record-writer.ts'), [dir, String(r), String(bound)], killAfterMs, (l) => {
    const [kind, op, name, a, b, c] = l.split(' ');
    const ch: Change = op === 'del' ? { del: true, seq: Number(a) } : { del: false, state: a!, seq: Number(b), fsid: Number(c) };
    if (kind === 'ack') acked.set(name!, ch);
    else (tried.get(name!) ?? tried.set(name!, []).get(name!)!).push(ch);
  });
  return { acked, tried };
}

test(`SIGKILL during state.log appends and folds: every acknowledged record change survives (seed ${SEED}, ${ROUNDS} rounds)`, { timeout: 240_000 }, async (t) => {
  const dir = tempDir('pxe-reclog-kill-');
  const rand = rng(SEED);
  let total = 0;
  let midFold = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const bound = [600, 4096, 1 << 20][r % 3]!;
    const { acked, tried } = await round(dir, r, bound, 20 + Math.floor(rand() * 400));
    total += acked.size;
    if (existsSync(path.join(dir, 'state.log.old'))) midFold++;
    // what a restart reads: for each node, its last acknowledged change or a later one it tried
    const onDisk = readStateOnDisk(dir, 1000);
    for (const [name, a] of acked) {
      const rec = onDisk.nodes.get(name);
      const later = (tried.get(name) ?? []).filter((x) => x.seq > a.seq);
      const what = `round ${r}: ${name}, acknowledged ${a.del ? 'removal' : `put (${a.state})`} at seq ${a.seq}`;
      if (!rec) {
        assert.ok(a.del || later.some((x) => x.del), `${what}, is missing on disk`);
        continue;
      }
      assert.equal(rec.sources[0], `r${r}`, `${what}: the record on disk is from an earlier round`);
      if (a.del) assert.ok(later.some((x) => !x.del && x.seq === rec.lastSeen), `${what}: a record of seq ${rec.lastSeen} is on disk`);
      else {
        assert.equal(rec.fsid, a.fsid, `${what}: fsid`);
        assert.ok(rec.lastSeen === a.seq ? rec.state === a.state : later.some((x) => !x.del && x.seq === rec.lastSeen), `${what}: on disk is seq ${rec.lastSeen} (${rec.state})`);
      }
    }
    // and the store itself starts over it (folding it in), as the daemon would
    const s = createStateStore({ dir, startFsid: 1000, log: silentLogger() });
    await s.load();
    assert.deepEqual(new Set(s.all().map((x) => `${x.name} ${x.lastSeen} ${x.state}`)), new Set([...onDisk.nodes.values()].map((x) => `${x.name} ${x.lastSeen} ${x.state}`)), `round ${r}: the store reads what the files hold`);
    await s.close();
  }
  t.diagnostic(`${total} acknowledged changes over ${ROUNDS} kills, ${midFold} of them in the middle of a fold (state.log.old present)`);
  assert.ok(total > ROUNDS, 'the writer got to acknowledge changes before the kills');
});
