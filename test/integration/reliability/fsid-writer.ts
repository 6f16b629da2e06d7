// Child of fsid-journal-sigkill.test.ts: hands out fsids to new names as fast as it can, and prints
// "name fsid" for each only after commitFsids() resolved (the point where pxebootd would export it).
// argv: state dir, round, journal bound in bytes.
import { writeSync } from 'node:fs';
import { createStateStore } from '../../../src/state/store.ts';
import { silentLogger } from '../../../src/log.ts';

const [dir, round, bound] = process.argv.slice(2);
const s = createStateStore({ dir: dir!, startFsid: 1000, log: silentLogger(), lazyMs: 5, journalBound: Number(bound) });
await s.load();
writeSync(1, 'loaded\n');
for (let i = 0; ; i++) {
  const names = Array.from({ length: 1 + (i % 4) }, (_, k) => `R${round}-${i}-${k}`);
  const got = names.map((n) => [n, s.fsidFor(n)] as const);
  await s.commitFsids();
  writeSync(1, got.map(([n, f]) => `${n} ${f}\n`).join(''));
}
