// The etab edit (provisioners/etab-apply.ts) on a real etab in a temp dir, with exportfs's real lock
// files beside it: one node's change makes no thread-pool round trip once the editor has swept its
// stale temps (each round trip waits for a pool thread and the main thread's next turn: on a lone
// lease's path, twenty in a row were a visible share of its latency under load).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createEtabEditor, etabPaths, type EtabEditor } from '../../../provisioners/etab-apply.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'pxb-etab-apply-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** fs requests handed to the thread pool while `fn` runs (async_hooks sees each one made). */
async function poolRequests(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const hook = createHook({
    init(_id, type) {
      if (type === 'FSREQPROMISE' || type === 'FSREQCALLBACK' || type === 'FILEHANDLECLOSEREQ') seen.push(type);
    },
  });
  hook.enable();
  try {
    await fn();
  } finally {
    hook.disable();
  }
  return seen;
}

const line = (p: string, ip: string, fsid: number) => `${p}\t${ip}(rw,sync,no_root_squash,no_subtree_check,fsid=${fsid})\n`;

test('one node put into and dropped from etab: the right bytes, and no thread-pool round trip', async () => {
  const etab = path.join(dir, 'etab');
  const other = '/srv/admin\t192.0.2.0/24(ro,sync)\n';
  writeFileSync(etab, other);
  // no nfsd here (no channels under procRpc): exportfs does no trial export either
  const paths = { ...etabPaths(etab), procRpc: path.join(dir, 'no-rpc') };
  const made = createEtabEditor(paths, pino({ level: 'silent' }));
  assert.ok(!('why' in made), `the fcntllock addon is built: ${'why' in made ? made.why : ''}`);
  const ed = made as EtabEditor;
  const nodes = ['n1', 'n2'].map((n) => path.join(dir, n));
  for (const n of nodes) mkdirSync(n);
  // the first edit also sweeps temp files a killed pxebootd left (once per editor)
  assert.equal((await ed.apply([], [{ path: nodes[0]!, ip: '10.0.0.1', line: line(nodes[0]!, '10.0.0.1', 7) }])).size, 0);
  let refused: Map<string, Error> | undefined;
  const put = await poolRequests(async () => {
    refused = await ed.apply([], [{ path: nodes[1]!, ip: '10.0.0.2', line: line(nodes[1]!, '10.0.0.2', 8) }]);
  });
  assert.equal(refused!.size, 0);
  assert.equal(readFileSync(etab, 'utf8'), other + line(nodes[0]!, '10.0.0.1', 7) + line(nodes[1]!, '10.0.0.2', 8));
  assert.deepEqual(put, [], 'a put: no thread-pool request');
  const drop = await poolRequests(() => ed.apply([{ path: nodes[0]!, ip: '10.0.0.1' }], []));
  assert.equal(readFileSync(etab, 'utf8'), other + line(nodes[1]!, '10.0.0.2', 8));
  assert.deepEqual(drop, [], 'a drop: no thread-pool request');
  // exportfs's checks still refuse what it would refuse
  const missing = path.join(dir, 'gone');
  const r = await ed.apply([], [{ path: missing, ip: '10.0.0.3', line: line(missing, '10.0.0.3', 9) }]);
  assert.match(r.get(missing)?.message ?? '', /^Failed to stat .*gone: ENOENT/);
  assert.equal(readFileSync(etab, 'utf8'), other + line(nodes[1]!, '10.0.0.2', 8), 'a refused put leaves etab as it was');
});
