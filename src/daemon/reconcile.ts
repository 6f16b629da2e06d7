// Start-up reconciliation: every node that state calls ready gets its mount and export back with
// the same fsid (one export reload for all), orphans are reported, the fallback boot file is
// written, and nodes that never finished (crash, failure) go back into the queue.
import type { Logger } from 'pino';
import type { Config, NodeRecord, ResolvedRule } from '../types.ts';
import type { KeyedQueue } from '../pipeline/queue.ts';
import type { StateStore } from '../state/store.ts';
import { readFsidSource, recoverySources } from '../state/recover.ts';
import { errorMessage } from '../errors.ts';
import { ruleFor, type NodeContext, type Job } from '../pipeline/jobs.ts';
import { parseKernelExports } from '../../provisioners/exports-kernel.ts';
import { parseGaneshaExports } from '../../provisioners/exports-ganesha.ts';

/**
 * Load the state files, checked against the NFS server's view of our exports (our exports file,
 * or etab): a node they do not know gets back the fsid its clients hold (see state/recover.ts).
 */
export function loadState(state: StateStore, config: Config): Promise<void> {
  return state.load(() => readFsidSource(recoverySources(config)));
}

/**
 * Unexport the nodes that state does not know whose export carries an fsid that state gives to
 * another node (the state files win). Left alone, the export would hold that fsid and the other
 * node's export would be refused at every retry.
 */
async function dropOverruledExports(core: NodeContext, known: NodeRecord[], log: Logger): Promise<void> {
  const clash = new Map((core.state.recovery()?.overruled ?? []).filter((o) => o.holder !== undefined).map((o) => [o.node, o]));
  // a dry run unexports nothing, so it has nothing to say here
  if (clash.size === 0 || core.apply.planOnly) return;
  try {
    const parse = core.config().exports.backend === 'ganesha' ? parseGaneshaExports : parseKernelExports;
    const orphans = await core.apply.findOrphans(known);
    const lines = orphans.exports.filter((l) => parse(l).entries.some((e) => clash.has(e.node) && clash.get(e.node)!.fsid === e.fsid));
    if (lines.length === 0) return;
    await core.apply.cleanOrphans({ mounts: [], exports: lines, bootFiles: [] });
    log.warn({ exports: lines.slice(0, 50) }, `unexported ${lines.length} node(s) that state does not know whose fsid state gives to another node (first: ${[...clash.values()][0]!.why})`);
  } catch (e) {
    log.error({ err: errorMessage(e) }, `could not unexport exports that contradict state: ${errorMessage(e)}`);
  }
}

/** Restore ready nodes, report orphans, write the default file, requeue unfinished nodes. */
export async function reconcile(core: NodeContext, queue: KeyedQueue<Job>, log: Logger, writeDefault: () => Promise<void>): Promise<void> {
  const { state } = core;
  const all = state.all();
  const restore: Array<{ node: NodeRecord; rule: ResolvedRule }> = [];
  for (const node of all) {
    if (node.state !== 'ready') continue;
    const rule = ruleFor(core, node);
    if (rule) restore.push({ node, rule });
    else log.warn({ node: node.name, ip: node.ip }, `ready node ${node.name} (${node.ip}) matches no rule now; left as it is`);
  }
  await dropOverruledExports(core, all, log);
  if (restore.length) {
    const t0 = Date.now();
    let errors: Map<string, Error>;
    try {
      errors = await core.apply.restore(restore);
    } catch (e) {
      // a restore that fails as a whole fails every node; each one is retried through the queue
      const err = e instanceof Error ? e : new Error(String(e));
      errors = new Map(restore.map((r) => [r.node.name, err]));
    }
    if (!core.apply.planOnly) log.info({ nodes: restore.length, failed: errors.size, ms: Date.now() - t0 }, `restored ${restore.length - errors.size} of ${restore.length} ready nodes`);
    for (const [name, err] of errors) {
      const cur = state.get(name);
      if (cur) state.put({ ...cur, state: 'failed', lastError: `restore: ${err.message}` });
      log.error({ node: name, err: err.message }, `restore of ${name} failed; will retry`);
    }
  }
  try {
    const orphans = await core.apply.findOrphans(all);
    const n = orphans.mounts.length + orphans.exports.length + orphans.bootFiles.length;
    if (n) {
      const some = { mounts: orphans.mounts.slice(0, 50), exports: orphans.exports.slice(0, 50), bootFiles: orphans.bootFiles.slice(0, 50) };
      log.warn({ orphans: some }, `found ${n} orphan mounts/exports/boot files that state does not know; left in place`);
    }
  } catch (e) {
    log.warn({ err: errorMessage(e) }, 'orphan check failed');
  }
  await writeDefault();
  for (const node of state.all()) {
    // boot-once nodes too: their profile's root (root: own) comes back; their files are kept
    if (node.state === 'pending' || node.state === 'failed' || node.state === 'verifying' || node.state === 'quarantined') void queue.push(node.name, { kind: 'provision', seenAt: Date.now(), sources: node.sources });
  }
  core.reportCounts();
}

/** (Re)write the loader fallbacks (pxelinux.cfg/default, GRUB's grub.cfg, iPXE's boot.ipxe); a failure is logged, not fatal. */
export async function writeDefaultFile(core: NodeContext, log: Logger): Promise<void> {
  try {
    await core.apply.writeDefault();
  } catch (e) {
    log.error({ err: errorMessage(e) }, 'writing pxelinux.cfg/default failed');
  }
}
