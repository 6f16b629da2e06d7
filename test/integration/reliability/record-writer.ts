// Child of state-log-sigkill.test.ts: changes node records as fast as it can (new nodes, state
// changes, removals) with a tiny state.log bound so that folds run all the time, and prints
// "try put NAME STATE SEQ FSID" / "try del NAME SEQ" before each change and the same with "ack"
// only after commit() resolved (the point where pxebootd tells a caller it is durable). argv: state dir, round, state.log bound in bytes.
import { writeSync } from 'node:fs';
import { createStateStore } from '../../../src/state/store.ts';
import { silentLogger } from '../../../src/log.ts';
import type { NodeRecord } from '../../../src/types.ts';

const [dir, round, bound] = process.argv.slice(2);

/** stdout is a pipe the test drains when it can: a full one (EAGAIN) is waited out, never dropped */
function say(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}
const s = createStateStore({ dir: dir!, startFsid: 1000, log: silentLogger(), lazyMs: 5, recordLogBound: Number(bound), foldMaxDeferMs: 0 });
await s.load();
say('loaded\n');
const states = ['pending', 'ready', 'failed'] as const;
for (let i = 0; ; i++) {
  const out: string[] = [];
  for (let k = 0; k < 1 + (i % 5); k++) {
    const n = (i * 7 + k * 13) % 60;
    const name = `N${n}`;
    if ((i + k) % 11 === 0 && s.get(name)) {
      s.remove(name);
      out.push(`del ${name} ${i}`);
      continue;
    }
    const prev = s.get(name);
    const rec: NodeRecord = { name, ip: `10.99.0.${n + 1}`, subnet: '10.99.0.0/24', state: states[(i + k) % 3]!, fsid: s.fsidFor(name), lastSeen: i, sources: [`r${round}`], timeline: [{ time: i, what: 'x'.repeat(40 + (i % 200)), source: 'test' }] };
    s.put(prev ? { ...prev, ...rec } : rec);
    out.push(`put ${name} ${rec.state} ${i} ${rec.fsid}`);
  }
  // every few rounds a fold starts by itself (the bound is small); sometimes ask for one too
  if (i % 17 === 0) void s.fold().catch(() => {});
  say(out.map((l) => `try ${l}\n`).join(''));
  await s.commit();
  say(out.map((l) => `ack ${l}\n`).join(''));
}
