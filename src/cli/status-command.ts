// `pxebootd status [--json] [--watch]`: nodes from the running daemon when it answers on the
// control socket, else from the state file. --watch redraws every second until Ctrl-C.
import { NoDaemonError, sendControl } from '../control.ts';
import { createStateStore } from '../state/store.ts';
import { silentLogger } from '../log.ts';
import type { NodeRecord } from '../types.ts';
import { loadClientConfig, warnBrokenConfig, type ClientConfig } from './client-config.ts';
import { parseCommand } from './args.ts';
import { USAGE } from './usage.ts';
import { matchesNode, renderStatusTable, renderSummary, renderTimeline } from './status-table.ts';

interface Snapshot {
  from: 'daemon' | 'state-file';
  daemon?: unknown;
  nodes: NodeRecord[];
}

/** Ask the daemon; fall back to reading state.json (read-only) when none answers. */
export async function readSnapshot(cc: ClientConfig): Promise<Snapshot> {
  try {
    const r = await sendControl(cc.socket, { op: 'status' }, { connectTimeoutMs: 500, timeoutMs: 10_000 });
    if (!r.ok) throw new Error(`daemon answered: ${r.error}`);
    warnBrokenConfig(cc);
    return { from: 'daemon', daemon: r.daemon, nodes: r.nodes as NodeRecord[] };
  } catch (e) {
    if (!(e instanceof NoDaemonError)) throw e;
  }
  if (!cc.config) throw cc.error;
  const config = cc.config;
  const store = createStateStore({ dir: config.state_dir, startFsid: config.exports.start_fsid, log: silentLogger(), memoryOnly: true });
  await store.load();
  return { from: 'state-file', nodes: store.all() };
}

export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals, config: file } = parseCommand('status', args, { json: { type: 'boolean' }, watch: { type: 'boolean' } }, { min: 0, max: 1, names: '[node|ip|mac]' });
  const only = positionals[0];
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const cc = await loadClientConfig(file);
  const show = async () => {
    const s = await readSnapshot(cc);
    if (only !== undefined) s.nodes = s.nodes.filter((n) => matchesNode(n, only));
    if (values.json) return JSON.stringify({ from: s.from, daemon: s.daemon, nodes: s.nodes }, null, 2) + '\n';
    const where = s.from === 'daemon' ? `the running daemon (${cc.socket})` : `${cc.config?.state_dir}/state.json (no daemon running)`;
    const one = only !== undefined && s.nodes.length === 1 ? renderTimeline(s.nodes[0]!) : '';
    return renderStatusTable(s.nodes, Date.now()) + renderSummary(s.nodes, where) + one;
  };
  if (!values.watch) {
    process.stdout.write(await show());
    return 0;
  }
  let stop = false;
  const onInt = () => (stop = true);
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  while (!stop) {
    let text: string;
    try {
      text = await show();
    } catch (e) {
      text = `pxebootd status: ${(e as Error).message}\n`;
    }
    process.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString()}  (Ctrl-C to stop)\n${text}`);
    for (let i = 0; i < 10 && !stop; i++) await new Promise((r) => setTimeout(r, 100));
  }
  process.removeListener('SIGINT', onInt);
  process.removeListener('SIGTERM', onInt);
  return 0;
}
