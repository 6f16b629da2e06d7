// A child process for table-not-a-file.test.ts: reads one table the daemon reads whole or in pieces
// (`node table-reader.ts KIND DIR`) and prints {"ok":…} or {"error":…} on stdout. A child, because
// the code under attack may block its main thread for ever (a FIFO read with readFileSync): the
// test can then kill it after a deadline instead of hanging itself.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { silentLogger } from '../../../src/log.ts';
import { createRunner } from '../../../src/runner.ts';
import { createStateStore } from '../../../src/state/store.ts';
import { createEtabEditor, etabPaths, type EtabEditor } from '../../../provisioners/etab-apply.ts';
import { createExportBackend, signalGanesha } from '../../../provisioners/export-backends.ts';
import { createExportBatcher } from '../../../provisioners/export-batcher.ts';
import { createLineChunkReader } from '../../../provisioners/line-chunks.ts';
import { makeConfig } from '../../unit/provisioners/fixtures.ts';

const [kind, dir] = process.argv.slice(2) as [string, string];
const node = path.join(dir, 'node', '0A000001');
mkdirSync(node, { recursive: true });

/** What each kind reads: `table` in `dir` (the test puts the attack there). */
const reads: Record<string, () => Promise<unknown>> = {
  // the kernel backend's etab edit (main thread, synchronous)
  async 'etab-edit'() {
    const made = createEtabEditor({ ...etabPaths(path.join(dir, 'table')), procRpc: path.join(dir, 'no-rpc') }, silentLogger());
    if ('why' in made) throw new Error(`no editor: ${made.why}`);
    const line = `${node}\t10.0.0.1(rw,sync,no_root_squash,no_subtree_check,fsid=7)\n`;
    return (await (made as EtabEditor).apply([], [{ path: node, ip: '10.0.0.1', line }])).size;
  },
  // the etab check after each export flush, and the mount table: whole lines in pieces
  async 'line-chunks'() {
    let n = 0;
    createLineChunkReader(path.join(dir, 'table'), 4096)((p) => (n += p.length));
    return n;
  },
  // the export batcher's first flush reads our own exports file
  async 'exports-file'() {
    const config = makeConfig(dir, { exports: { file: path.join(dir, 'table'), etab: path.join(dir, 'etab') } });
    const b = createExportBatcher({ backend: createExportBackend(config, createRunner(silentLogger()), silentLogger()), log: silentLogger(), dryRun: true });
    await b.want({ node: '0A000001', path: node, ip: '10.0.0.1', fsid: 7 });
    return 'wanted';
  },
  // the Ganesha backend's pid file (exports.pid_file), read before each SIGHUP reload; the control
  // case names this process, which is not ganesha.nfsd, so it is refused for that after the read
  async 'pid-file'() {
    await signalGanesha(path.join(dir, 'table'), silentLogger());
    return 'signalled';
  },
  // the state store's start-up read of state.json
  async state() {
    const store = createStateStore({ dir: path.join(dir, 'state'), startFsid: 1000, log: silentLogger(), memoryOnly: true });
    await store.load();
    return 'loaded';
  },
};

const read = reads[kind];
if (!read) throw new Error(`unknown kind ${kind}; expected one of ${Object.keys(reads).join(', ')}`);
read().then(
  (ok) => process.stdout.write(`${JSON.stringify({ ok })}\n`),
  (e: Error) => process.stdout.write(`${JSON.stringify({ error: e.message })}\n`),
);
