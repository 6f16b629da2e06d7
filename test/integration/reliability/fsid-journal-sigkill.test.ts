// SIGKILL while fsids are being appended to fsids.log and folded into fsids.json (a small bound,
// so folds happen all the time): after each kill, a restart must know every fsid that was
// acknowledged (commitFsids resolved: an export could carry it), with the same name, and must never
// hand an acknowledged fsid to another name. Seeded: PXG_SEED, PXG_ROUNDS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStateStore } from '../../../src/state/store.ts';
import { silentLogger } from '../../../src/log.ts';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';
import { mulberry32 as rng } from '../../helpers/prng.ts';
import { readFsidsOnDisk } from '../../helpers/fsids-on-disk.ts';
import { killAfterLoaded } from '../../helpers/sigkill-writer.ts';

after(cleanupAll);

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEED = Number(process.env.PXG_SEED ?? Date.now() % 100_000);
const ROUNDS = Number(process.env.PXG_ROUNDS ?? 12);

/** Run the writer until `killAfterMs` past its start-up, SIGKILL it; its acknowledged name -> fsid. */
async function round(dir: string, r: number, bound: number, killAfterMs: number): Promise<Map<string, number>> {
  const acked = new Map<string, number>();
  await killAfterLoaded(path.join(HERE, 'fsid-writer.ts'), [dir, String(r), String(bound)], killAfterMs, (l) => {
    const [n, f] = l.split(' ');
    acked.set(n!, Number(f));
  });
  return acked;
}

test(`SIGKILL during fsid appends and folds: every acknowledged fsid survives, none is reassigned (seed ${SEED}, ${ROUNDS} rounds)`, { timeout: 240_000 }, async (t) => {
  const dir = tempDir('pxe-fsid-kill-');
  const rand = rng(SEED);
  const all = new Map<string, number>();
  let total = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const bound = [400, 4096, 1 << 20][r % 3]!;
    const acked = await round(dir, r, bound, 20 + Math.floor(rand() * 400));
    total += acked.size;
    for (const [n, f] of acked) all.set(n, f);
    // what a restart sees
    const onDisk = readFsidsOnDisk(dir).fsids;
    const holders = new Map<number, string>();
    for (const [n, f] of Object.entries(onDisk)) {
      assert.equal(holders.get(f), undefined, `round ${r}: fsid ${f} on disk for ${holders.get(f)} and ${n}`);
      holders.set(f, n);
    }
    for (const [n, f] of all) assert.equal(onDisk[n], f, `round ${r}: acknowledged ${n} -> ${f} is ${onDisk[n] ?? 'missing'} on disk`);
  }
  t.diagnostic(`${total} fsids acknowledged over ${ROUNDS} kills`);
  assert.ok(total > ROUNDS, 'the writer got to acknowledge fsids before the kills');
  const s = createStateStore({ dir, startFsid: 1000, log: silentLogger() });
  await s.load();
  for (const [n, f] of all) assert.equal(s.fsidFor(n), f, `${n} after the last restart`);
  const fresh = s.fsidFor('AFTER');
  assert.ok(![...all.values()].includes(fresh), `a new name got fsid ${fresh}, which an acknowledged name holds`);
  await s.close();
});
