// `pxebootd status [NODE|IP|MAC] [--json] [--watch]`: nodes from the running daemon when it
// answers on the control socket, else from the state file. Naming one node asks the daemon for
// that node only; every node comes as a stream that goes to stdout as it arrives (the JSON as the
// daemon wrote it, the table line by line), so 100,000 nodes are never held as one text. --watch
// redraws every second until Ctrl-C. Light imports only: the config and the state store are loaded
// when no daemon answers (and, for the full views, to warn about a broken config).
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { NoDaemonError, openControlStream, sendControl } from '../control.ts';
import type { NodeRecord } from '../types.ts';
import type { ClientConfig } from './client-config.ts';
import { parseCommand } from './args.ts';
import { USAGE } from './usage.ts';
import { socketFromConfigText } from './hook-command.ts';
import { readRegularSync, READ_LIMITS } from '../safe-open.ts';
import { findNode, noNodeMessage, parseNodeQuery, queryMatches, STATUS_DOC_END, StatusDocReader, statusDocument, type StatusRow } from '../status-doc.ts';
import { createTableWriter, renderStatusTable, renderSummary, renderTimeline, summaryLine } from './status-table.ts';

const DEFAULT_SOCKET = '/run/pxebootd/control.sock';
/** Longest wait for the next piece of an answer. */
const ANSWER_TIMEOUT_MS = 30_000;

/** Where the text goes: stdout, with its backpressure; false once the reader has gone (EPIPE). */
export type Out = (text: string | Buffer) => Promise<boolean>;

function stdoutWriter(): Out {
  let gone = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') gone = true;
    else throw e;
  });
  return async (text) => {
    if (gone) return false;
    if (!process.stdout.write(text)) {
      // a reader that went away never drains: its error (EPIPE) or close ends the wait too
      await new Promise<void>((resolve) => {
        const done = () => {
          process.stdout.off('drain', done).off('error', done).off('close', done);
          resolve();
        };
        process.stdout.on('drain', done).on('error', done).on('close', done);
      });
    }
    return !gone;
  };
}

/** The socket path from the config's `control_socket:` line without parsing the YAML (as `hook`). */
function quickSocket(file: string): string {
  try {
    const found = socketFromConfigText(readRegularSync(file, READ_LIMITS.configBytes, 'a config file').toString('utf8'));
    if (found) return path.resolve(path.dirname(path.resolve(file)), found);
  } catch {
    /* unreadable here: the full loader says why, if it is needed */
  }
  return DEFAULT_SOCKET;
}

async function fullConfig(file: string): Promise<ClientConfig> {
  return (await import('./client-config.ts')).loadClientConfig(file);
}

/** The config is broken but the daemon answered (on its last good config): say so. */
async function warnIfBroken(cc: ClientConfig): Promise<void> {
  if (cc.config) return;
  (await import('./client-config.ts')).warnBrokenConfig(cc);
}

/** The state file's records (read-only), when no daemon answers. */
async function stateFileNodes(cc: ClientConfig): Promise<{ nodes: NodeRecord[]; where: string; index: import('../status-doc.ts').NodeIndex }> {
  if (!cc.config) throw cc.error;
  const [{ createStateStore }, { silentLogger }] = await Promise.all([import('../state/store.ts'), import('../log.ts')]);
  const store = createStateStore({ dir: cc.config.state_dir, startFsid: cc.config.exports.start_fsid, log: silentLogger(), memoryOnly: true });
  await store.load();
  return { nodes: store.all(), where: `${store.file} (no daemon running)`, index: store };
}

/** `status X`: the one node, from the daemon (an indexed lookup) or the state file; exit 1 when unknown. */
async function showOne(file: string, only: string, json: boolean, out: Out): Promise<number> {
  const q = parseNodeQuery(only);
  let from: 'daemon' | 'state-file' = 'daemon';
  let daemon: unknown = null;
  let nodes: NodeRecord[] | undefined;
  let where = '';
  const ask = async (socket: string) => {
    const r = await sendControl(socket, { op: 'status', node: only }, { connectTimeoutMs: 500, timeoutMs: ANSWER_TIMEOUT_MS });
    if (!r.ok) throw new Error(`daemon answered: ${r.error}`);
    daemon = r.daemon ?? null;
    // a daemon older than the `node` request answers with every node: pick it out here
    nodes = q ? (Array.isArray(r.nodes) ? (r.nodes as NodeRecord[]) : []).filter((n) => queryMatches(n, q)) : [];
    where = `the running daemon (${socket})`;
  };
  const socket = quickSocket(file);
  try {
    await ask(socket);
  } catch (e) {
    if (!(e instanceof NoDaemonError)) throw e;
  }
  if (!nodes) {
    const cc = await fullConfig(file);
    if (cc.socket !== socket) {
      try {
        await ask(cc.socket);
      } catch (e) {
        if (!(e instanceof NoDaemonError)) throw e;
      }
    }
    if (!nodes) {
      const s = await stateFileNodes(cc);
      const n = q && findNode(s.index, q);
      nodes = n ? [n] : [];
      from = 'state-file';
      daemon = null;
      where = s.where;
    }
  }
  const found: NodeRecord[] = nodes!;
  if (found.length === 0) {
    process.stderr.write(`pxebootd status: ${noNodeMessage(only)}\n`);
    return 1;
  }
  if (json) {
    for (const piece of statusDocument(from, daemon, found)) await out(piece);
    return 0;
  }
  await out(renderStatusTable(found, Date.now()) + renderSummary(found, where) + (found.length === 1 ? renderTimeline(found[0]!) : ''));
  return 0;
}

/** Every node: streamed from the daemon, else from the state file. */
async function showAll(file: string, json: boolean, out: Out): Promise<number> {
  const cc = await fullConfig(file);
  let answer;
  try {
    answer = await openControlStream(cc.socket, json ? { op: 'status', stream: true } : { op: 'status', stream: true, view: 'table' }, { connectTimeoutMs: 500, timeoutMs: ANSWER_TIMEOUT_MS });
  } catch (e) {
    if (!(e instanceof NoDaemonError)) throw e;
  }
  if (answer && !answer.head.ok) throw new Error(`daemon answered: ${answer.head.error}`);
  if (answer) await warnIfBroken(cc);
  const where = answer ? `the running daemon (${cc.socket})` : '';
  if (answer?.body) {
    if (json) return (await passThrough(answer.body, out)) ? 0 : 1;
    const reader = new StatusDocReader<StatusRow>();
    const table = createTableWriter(Date.now());
    // a character may be split between two chunks
    const utf8 = new StringDecoder('utf8');
    for await (const chunk of answer.body) {
      let text = '';
      for (const row of reader.push(utf8.write(chunk))) text += table.push(row);
      if (text && !(await out(text))) return 0;
    }
    reader.push(utf8.end());
    reader.end();
    await out(table.end() + summaryLine(table.count, table.states, where));
    return 0;
  }
  // an older daemon answers in one line; no daemon: the state file
  const src = answer ? { from: 'daemon' as const, daemon: answer.head.daemon ?? null, nodes: (answer.head.nodes ?? []) as NodeRecord[], where } : { from: 'state-file' as const, daemon: null, ...(await stateFileNodes(cc)) };
  if (json) {
    for (const piece of statusDocument(src.from, src.daemon, src.nodes)) if (!(await out(piece))) return 0;
    return 0;
  }
  const table = createTableWriter(Date.now());
  const rows = [...src.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let text = '';
  for (const n of rows) {
    text += table.push(n);
    if (text.length > 1 << 16) {
      if (!(await out(text))) return 0;
      text = '';
    }
  }
  await out(text + table.end() + summaryLine(table.count, table.states, src.where));
  return 0;
}

/** The daemon's document to stdout as it arrives; false (and a message) when it was cut short. */
async function passThrough(body: AsyncIterable<Buffer>, out: Out): Promise<boolean> {
  let tail = '';
  for await (const chunk of body) {
    if (!(await out(chunk))) return true;
    tail = (tail + chunk.subarray(Math.max(0, chunk.length - STATUS_DOC_END.length)).toString('latin1')).slice(-STATUS_DOC_END.length);
  }
  if (tail === STATUS_DOC_END) return true;
  process.stderr.write('pxebootd status: the daemon\'s answer ended early; the JSON above is incomplete\n');
  return false;
}

/** `pxebootd status`: from the running daemon when there is one, else from the state files. */
export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals, config: file } = parseCommand('status', args, { json: { type: 'boolean' }, watch: { type: 'boolean' } }, { min: 0, max: 1, names: '[node|ip|mac]' });
  const only = positionals[0];
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const json = values.json === true;
  const stdout = stdoutWriter();
  const show = (out: Out) => (only !== undefined ? showOne(file, only, json, out) : showAll(file, json, out));
  if (!values.watch) return show(stdout);
  let stop = false;
  const onInt = () => (stop = true);
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  while (!stop) {
    await stdout(`\x1b[H\x1b[2J${new Date().toISOString()}  (Ctrl-C to stop)\n`);
    try {
      await show(stdout);
    } catch (e) {
      await stdout(`pxebootd status: ${(e as Error).message}\n`);
    }
    for (let i = 0; i < 10 && !stop; i++) await new Promise((r) => setTimeout(r, 100));
  }
  process.removeListener('SIGINT', onInt);
  process.removeListener('SIGTERM', onInt);
  return 0;
}
