// Things pxebootd made that its state no longer knows: overlay mounts under a managed node_dir,
// entries in our exports file, and boot files carrying our marker (plus links to them).
// Finding is read-only; cleaning re-checks each item before touching it and never wipes layers.
import { lstat, readdir, readlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { OrphanReport } from '../src/contracts.ts';
import type { Runner } from '../src/runner.ts';
import type { Config, NodeRecord } from '../src/types.ts';
import { bootDirs, looksLikeOurName, markerNode } from './boot-files.ts';
import { readHead } from './boot-files-apply.ts';
import { findStaleTemps, isStaleTemp } from './stale-temp.ts';
import { renderedText, type ExportBackend } from './export-backends.ts';
import type { ExportBatcher } from './export-batcher.ts';
import type { MountTable } from './mount-table.ts';
import type { Mounter } from './mounter.ts';
import { RunError } from '../src/errors.ts';
import { isSafeNodeName } from '../src/validate.ts';

/** Shared pieces of the provisioner that orphan handling uses. */
export interface OrphanDeps {
  config: Config;
  runner: Runner;
  mounter: Mounter;
  log: Logger;
  table: MountTable;
  batcher: ExportBatcher;
  backend: ExportBackend;
  nodeDirs: () => string[];
}

/** Read-only scan; see the top comment. */
export async function findOrphans(deps: OrphanDeps, known: NodeRecord[]): Promise<OrphanReport> {
  const names = new Set(known.map((n) => n.name));
  const dirs = new Set(deps.nodeDirs());
  const mounts = [...(await deps.table.snapshot()).values()]
    .filter((m) => m.fstype === 'overlay' && dirs.has(path.dirname(m.mountPoint)) && !names.has(path.basename(m.mountPoint)))
    .map((m) => m.mountPoint)
    .sort();
  const exports = [...(await deps.batcher.entries()).values()]
    .filter((e) => !names.has(e.node))
    .map((e) => renderedText(deps.backend, [e]).split('\n').filter((l) => l && !l.startsWith('#')).join('\n'))
    .sort();
  const bootFiles: string[] = [];
  for (const dir of new Set(Object.values(bootDirs(deps.config)))) {
    const ents = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const orphanCanon = new Set<string>();
    const links: Array<{ name: string; target: string }> = [];
    for (const d of ents) {
      const full = path.join(dir, d.name);
      if (d.isFile()) {
        const node = markerNode((await readHead(full).catch(() => undefined)) ?? '');
        if (node !== undefined && !names.has(node)) {
          orphanCanon.add(d.name);
          bootFiles.push(full);
        }
      } else if (d.isSymbolicLink() && looksLikeOurName(d.name)) {
        links.push({ name: d.name, target: await readlink(full).catch(() => '') });
      }
    }
    for (const t of await findStaleTemps(dir)) bootFiles.push(t);
    for (const l of links) {
      if (l.target.includes('/') || !looksLikeOurName(l.target)) continue;
      const dangling = !(await lstat(path.join(dir, l.target)).then(() => true, () => false));
      if (orphanCanon.has(l.target) || dangling) bootFiles.push(path.join(dir, l.name));
    }
  }
  bootFiles.sort();
  return { mounts, exports, bootFiles };
}

/** Remove what findOrphans reported, re-checking each item first; upper layers are kept. */
export async function cleanOrphans(deps: OrphanDeps, report: OrphanReport): Promise<void> {
  const dirs = new Set(Object.values(bootDirs(deps.config)));
  for (const f of report.bootFiles) {
    if (!dirs.has(path.dirname(f))) throw new Error(`orphan boot file ${f} is not in a managed boot directory`);
    const st = await lstat(f).catch(() => undefined);
    if (!st) continue;
    const ours = isStaleTemp(path.basename(f)) || (st.isSymbolicLink() ? looksLikeOurName(await readlink(f)) : markerNode((await readHead(f)) ?? '') !== undefined);
    if (!ours) throw new Error(`orphan boot file ${f} is not a pxebootd file any more; not removing it`);
    await unlink(f);
  }
  const paths = report.exports.flatMap((s) => deps.backend.parse(s).entries.map((e) => e.path));
  await Promise.all(paths.map((p) => deps.batcher.drop(p)));
  const nodeDirs = new Set(deps.nodeDirs());
  const table = await deps.table.snapshot(report.mounts);
  for (const m of report.mounts) {
    const e = table.get(m);
    if (!e || e.fstype !== 'overlay' || !nodeDirs.has(path.dirname(m)) || !isSafeNodeName(path.basename(m))) continue;
    const r = await deps.mounter.umount(m);
    if (r.exitCode !== 0) throw new RunError(r.command, r.exitCode, r.stderr);
  }
}
