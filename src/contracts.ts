// Interfaces between the daemon core and its plug-ins (watchers, provisioners, metrics).
// The daemon depends on these, never on the modules' internals.
import type { Logger } from 'pino';
import type { Runner } from './runner.ts';
import type { Config, NodeRecord, ResolvedRule, SourceConfig, WatcherSink, Watcher, NodeState } from './types.ts';

export interface WatcherContext {
  config: Config;
  source: SourceConfig;
  log: Logger;
  runner: Runner;
  sink: WatcherSink;
}

export type WatcherFactory = (ctx: WatcherContext) => Watcher;

/**
 * One step of a node's plan, typed by `op`: what applyPlan (provisioners/apply-plan.ts) switches on.
 * `describe` is one human/shell-readable line, e.g. "mount -t overlay overlay -o ... /netboot/node/0A630032",
 * for `explain` and `--dry-run`.
 */
export type PlanStep =
  | { op: 'mkdir'; path: string; mode: number; describe: string }
  /** ephemeral, not exported: delete upper and work (a fresh layer) before the mount makes them again */
  | { op: 'reset-layer'; path: string; describe: string }
  | { op: 'mount'; argv: string[]; path: string; describe: string }
  /** the mount just made is checked; alone (already mounted), the check was made when planning */
  | { op: 'verify-mount'; path: string; describe: string }
  /** something else is mounted at the node's point: the plan stops here (ConflictError) */
  | { op: 'refuse'; path: string; reason: string; describe: string }
  /** `force`: export and reload even when our file has it (restore: the server may have restarted) */
  | { op: 'export'; path: string; fsid: number; force?: boolean; describe: string }
  /** our file has the export as planned: check it is live (reloading only if it is not) */
  | { op: 'verify-export'; path: string; fsid: number; describe: string }
  /** the export reload, batched with other nodes */
  | { op: 'reload'; describe: string }
  | { op: 'write'; path: string; template: string; describe: string }
  | { op: 'link'; path: string; target: string; describe: string }
  | { op: 'keep'; describe: string }
  | { op: 'unlink'; path: string; describe: string }
  | { op: 'unexport'; path: string; describe: string }
  | { op: 'umount'; path: string; describe: string }
  | { op: 'wipe'; path: string; describe: string };

/** The kinds of plan step. */
export type PlanOp = PlanStep['op'];

export interface NodePlan {
  node: string;
  ip: string;
  mac?: string;
  fsid: number;
  /** in order: overlay, export, boot files */
  steps: PlanStep[];
  /** the exports line (kernel) or EXPORT block (ganesha) for this node */
  exportEntry: string;
  /** path a client mounts ({{nfs_path}}) */
  nfsPath: string;
  /** absolute paths of every boot file/link this node gets */
  bootFiles: string[];
}

/**
 * Which templates a node's boot files come from under boot-once: production (the rule's), a
 * profile's, or none (the quarantine fallback: pxelinux.cfg/default applies). Loaders without a
 * template here get their per-node files removed.
 */
export interface BootSelection {
  templates: { pxe_template?: string; grub_template?: string; ipxe_template?: string };
  /** values beyond the built-ins: {{report_url}}, {{report_token}} */
  values?: Record<string, string>;
  /** mount and export the node's root before writing (production, `root: own`) */
  root: boolean;
  /** leave the files as they are: an activated profile's files hold its token */
  keepFiles?: boolean;
}

/** How a persistent node's upper goes to another lower layer (see provisioners/layer-carry.ts). */
export type LayerSwitch = { how: 'carry' } | { how: 'fresh'; from: string; to: string };

export interface ReleasePlan {
  node: string;
  policy: 'keep' | 'unexport' | 'remove';
  steps: PlanStep[];
}

export interface OrphanReport {
  /** overlay mounts under a managed node_dir that state does not know */
  mounts: string[];
  /** lines/blocks in our exports file that state does not know */
  exports: string[];
  /** boot files in tftp_root written by us for nodes that state does not know */
  bootFiles: string[];
}

/** Turns a matched node into a bootable one, and back. Everything goes through the Runner. */
export interface Provisioner {
  /**
   * What provision() (with `restore`, restore()) would do now: the pure plan (planNode) made against
   * what is in place for the node, which is read, never changed.
   */
  plan(node: NodeRecord, rule: ResolvedRule, opts?: { restore?: boolean }): Promise<NodePlan>;
  planRelease(node: NodeRecord, rule: ResolvedRule, policy: 'keep' | 'unexport' | 'remove'): ReleasePlan;
  /**
   * mount -> export (batched with other nodes) -> boot files. Idempotent. Throws on failure.
   * `exportGate` (the fsid being made durable) is awaited after the mount and before the export,
   * so the fsync overlaps the mount instead of preceding it.
   */
  provision(node: NodeRecord, rule: ResolvedRule, opts?: { exportGate?: Promise<void>; boot?: BootSelection }): Promise<void>;
  /** apply the release policy: keep | unexport (boot files, then export) | remove (also umount, wipe upper) */
  release(node: NodeRecord, rule: ResolvedRule, policy: 'keep' | 'unexport' | 'remove'): Promise<void>;
  /**
   * A persistent node's next boot onto another image version: boot files -> unexport -> umount (all
   * of `from`, the layer it runs), then its upper carried (`carry`) or set aside (`fresh`) for `to`.
   * provision(node, to) then mounts, exports with the same fsid and writes the boot files.
   */
  switchLayer(node: NodeRecord, from: ResolvedRule, to: ResolvedRule, how: LayerSwitch): Promise<string>;
  /**
   * After a template reload: render a ready node's boot files again and rewrite those whose text
   * changed. Never mounts or exports; a node whose export is not live is left to its next event.
   */
  rerender(node: NodeRecord, rule: ResolvedRule): Promise<'rewritten' | 'unchanged' | 'not-exported'>;
  /** start-up reconciliation: re-mount and re-export every ready node with its fsid, in one export reload */
  restore(nodes: Array<{ node: NodeRecord; rule: ResolvedRule }>): Promise<Map<string, Error>>;
  /** write pxelinux.cfg/default from default_template (when configured) */
  writeDefault(): Promise<void>;
  findOrphans(known: NodeRecord[]): Promise<OrphanReport>;
  cleanOrphans(report: OrphanReport): Promise<void>;
  /** flush pending batched work and release resources */
  close(): Promise<void>;
}

export interface ProvisionerContext {
  config: Config;
  runner: Runner;
  log: Logger;
}

/** What the daemon reports to Prometheus (src/metrics.ts implements it; a no-op one is fine in tests). */
export interface Metrics {
  /** a state left out counts 0 */
  nodesByState(counts: Partial<Record<NodeState, number>>): void;
  /** a boot-once profile finished for a node (verifications_total{profile,result}) */
  verification(profile: string, result: string): void;
  event(sourceType: string): void;
  seenToReady(ms: number): void;
  queueDepth(n: number): void;
  commandFailure(tool: string): void;
  reload(ok: boolean): void;
  /** start the HTTP endpoint if config.metrics is set; returns the bound address */
  listen?(addr: string): Promise<string>;
  close?(): Promise<void>;
}
