// The edge before planNode (plan.ts): what is in place for nodes now, read and never changed: what
// is mounted at each node's point (one mount table snapshot for all of them) and whether our exports
// file has each node's entry. The provisioner observes through its own mount table and export
// batcher; `explain` reads /proc/self/mountinfo and the exports file itself (readOnlyView).
import type { Config } from '../src/types.ts';
import { errorMessage } from '../src/errors.ts';
import { READ_LIMITS, readRegularIfPresent } from '../src/safe-open.ts';
import type { ExportEntry } from './export-entry.ts';
import { parseGaneshaExports } from './exports-ganesha.ts';
import { parseKernelExports } from './exports-kernel.ts';
import { createMountTable, type MountTable } from './mount-table.ts';
import { judgeMount } from './overlay-apply.ts';
import { exportState, type NodeCurrent, type NodeTargets } from './plan.ts';

/** Where observeNodes reads: a mount table and the export set as pxebootd means it. */
export interface StateView {
  table: Pick<MountTable, 'snapshot'>;
  exports: () => Promise<ReadonlyMap<string, ExportEntry>>;
}

/** What is in place for each of `targets` (same order): one snapshot of their mount points, one look at the export set. */
export async function observeNodes(view: StateView, targets: readonly Pick<NodeTargets, 'paths' | 'entry'>[]): Promise<NodeCurrent[]> {
  if (targets.length === 0) return [];
  const [mounts, exports] = await Promise.all([view.table.snapshot(targets.map((t) => t.paths.mountPoint)), view.exports()]);
  return Promise.all(
    targets.map(async (t) => ({
      mount: await judgeMount(mounts.get(t.paths.mountPoint), t.paths),
      export: exportState(exports.get(t.entry.path), t.entry),
    })),
  );
}

/**
 * A view for a process that is not the daemon (`explain`): /proc/self/mountinfo and the exports
 * file as they are now. A file it cannot read is reported by observeNodes' rejection.
 */
export function readOnlyView(config: Config): StateView {
  return {
    table: createMountTable(() => []),
    async exports() {
      const file = config.exports.file;
      let text: string;
      try {
        const bytes = await readRegularIfPresent(file, READ_LIMITS.tableBytes, 'an exports file');
        if (!bytes) return new Map();
        text = bytes.toString('utf8');
      } catch (e) {
        throw new Error(`reading ${file}: ${errorMessage(e)}`);
      }
      const parse = config.exports.backend === 'ganesha' ? parseGaneshaExports : parseKernelExports;
      return new Map(parse(text).entries.map((e) => [e.path, e]));
    },
  };
}
