// Step 2 of the pipeline (watcher -> inbox -> DECIDE -> queue -> job -> planNode -> applyPlan -> record):
// what one event means for one node, as a value. Pure: the inbox gathers the facts (the rule that
// matched, the node's record before and after the event, whether it has work queued) and applies
// the decision (record, timeline, log, queue); `explain` calls the same functions and prints the
// reasons. Trust comes from src/trust.ts: an untrusted source never releases.
import type { ClientGone, ClientSeen, MatchResult, NodeRecord, ReleasePolicy, ResolvedRule } from '../types.ts';
import type { ReleaseMatch } from '../daemon/records.ts';
import { needsProvision, ruleKeyOf } from '../daemon/records.ts';
import { isNewBoot } from '../daemon/boot-detect.ts';
import { nodeNameFor } from '../naming.ts';
import { errorMessage } from '../errors.ts';
import { isAuthoritative } from '../trust.ts';

/** Why a provision job runs at an image node's boot or return (see src/images/node-lower.ts). */
export type Occasion = 'boot' | 'after-release';

/**
 * What to do about a node: `provision` (mount, export, boot files; `check` when only the image
 * version is to be compared), `reset` (an ephemeral node booting again: fresh layer, then
 * provision), `rerender` (a ready node's boot files from reloaded templates), `release` (per
 * policy), or `nothing` (with the outcome the submitter is told).
 */
export type Decision =
  | { kind: 'provision'; occasion?: Occasion; check?: boolean; why: string[] }
  | { kind: 'reset'; occasion: 'boot'; why: string[] }
  | { kind: 'rerender'; why: string[] }
  | { kind: 'release'; policy: Exclude<ReleasePolicy, 'keep'>; lift: boolean; why: string[] }
  | { kind: 'nothing'; outcome: 'skipped' | 'unchanged'; why: string[] };

/** Which node a matched client is, or why it is none (no rule, ignored, reserved, no usable name). */
export type NodeMatch =
  | { kind: 'node'; name: string; rule: ResolvedRule }
  /** `by`: for an ignored client, the rule that says so */
  | { kind: 'skip'; match: Exclude<MatchResult['kind'], 'match'> | 'name'; why: string[]; by?: string };

/** Decides the first question for a seen client: does it get a node, and under which name. */
export function decideNode(m: MatchResult, ip: string, mac: string | undefined): NodeMatch {
  if (m.kind === 'ignored') return { kind: 'skip', match: m.kind, why: m.why, by: m.by };
  if (m.kind !== 'match') return { kind: 'skip', match: m.kind, why: m.why };
  try {
    return { kind: 'node', name: nodeNameFor(m.rule.node_name, ip, mac), rule: m.rule };
  } catch (e) {
    return { kind: 'skip', match: 'name', why: [errorMessage(e)] };
  }
}

/** The facts about a matched client's seen event that decideSeen needs. */
export interface SeenFacts {
  event: ClientSeen;
  rule: ResolvedRule;
  /** the record before this event (undefined: a new node) */
  prev: NodeRecord | undefined;
  /** the record with this event applied (records.applySeen) */
  next: NodeRecord;
  /** the node has work queued, running or backing off */
  busy: boolean;
  /** when the daemon started (ms): NBP requests within the boot guard after it are replays, not boots */
  startedAt: number;
  guardMs: number;
  /** boot-once: this fetch moved the node's profile on, so its files are written again */
  advance: boolean;
}

/** A seen event's decision plus the boot it detected (the inbox logs it and adds it to the timeline). */
export interface SeenDecision {
  decision: Decision;
  /** a ready node fetched its boot program again: a new boot */
  boot?: 'ephemeral' | 'persistent';
  /** the node's work changes: its record goes back to pending (unless failed) */
  pending: boolean;
}

/** Decides what a seen event of a matched client changes (the provision/reset/nothing branch). */
export function decideSeen(f: SeenFacts): SeenDecision {
  const { event: e, prev, rule } = f;
  const cli = e.sourceType === 'cli';
  // the rule fingerprint only matters for a ready node that stays where it is
  const need = needsProvision(prev, f.next, () => ruleKeyOf(rule), f.busy) || cli;
  // a ready node fetching its NBP again is booting again: ephemeral nodes get a fresh layer
  // (a syslog source with from_start replays old NBP requests at start-up: none of them is a boot)
  const booted = !need && e.time - f.startedAt >= f.guardMs && isNewBoot(prev, e.file, e.time, f.busy, f.guardMs);
  const reset = booted && rule.overlay === 'ephemeral';
  // a persistent node on an image: its job compares the version it runs with the current one
  const imageCheck = booted && !reset && rule.image !== undefined;
  const boot = booted ? (reset ? 'ephemeral' : 'persistent') : undefined;
  const pending = need || reset;
  const out = (decision: Decision): SeenDecision => (boot ? { decision, boot, pending } : { decision, pending });
  if (reset) return out({ kind: 'reset', occasion: 'boot', why: ['the node is booting again and its overlay is ephemeral: a fresh layer'] });
  if (!need && !f.advance && !imageCheck) return out({ kind: 'nothing', outcome: 'unchanged', why: [booted ? 'the node is booting again; its persistent layer is kept' : 'nothing about the node changed'] });
  const why = seenReasons(prev, f.next, cli, need, f.advance, imageCheck);
  const d: Decision = { kind: 'provision', why };
  // the moments an image node may move to the image's current version (see src/images/node-lower.ts)
  if (booted) d.occasion = 'boot';
  else if (prev?.state === 'released') d.occasion = 'after-release';
  if (imageCheck && !need && !f.advance) d.check = true;
  return out(d);
}

/** The reasons a provision was decided, as `explain` and the submitter see them. */
function seenReasons(prev: NodeRecord | undefined, next: NodeRecord, cli: boolean, need: boolean, advance: boolean, imageCheck: boolean): string[] {
  const why: string[] = [];
  if (cli) why.push('provision requested by the CLI');
  if (need && !prev) why.push('a new node');
  else if (need && prev && (prev.ip !== next.ip || prev.mac !== next.mac || prev.hostname !== next.hostname)) why.push('the node moved (IP, MAC or hostname changed)');
  else if (need && prev && (prev.state === 'ready' || prev.state === 'verifying' || prev.state === 'quarantined')) why.push('its rule changed since it became ready');
  else if (need && prev) why.push(`the node is ${prev.state} with no work queued`);
  if (advance) why.push('boot-once: its profile moved on; its files are written again');
  if (imageCheck) why.push('the node is booting again: its image version is compared with the current one');
  return why;
}

/** The facts about a gone event that decideGone needs. */
export interface GoneFacts {
  event: ClientGone;
  /** which node the event names (records.matchRelease) */
  found: ReleaseMatch;
  /** the node's rule under the running config (undefined: it matches none now) */
  rule: ResolvedRule | undefined;
  /** a release policy asked for explicitly (control socket) */
  policy?: ReleasePolicy;
}

/** Why a gone event changes nothing, for the inbox's summary lines. */
export type GoneGroup = 'mismatch' | 'untrusted' | 'kept' | 'released';

/** A gone event's decision and, when it is `nothing`, which summary group it belongs to. */
export interface GoneDecision {
  decision: Decision;
  group?: GoneGroup;
}

/** Decides what a gone event does: release per policy, or nothing (and why). Untrusted sources never release. */
export function decideGone(f: GoneFacts): GoneDecision {
  const e = f.event;
  const rec = f.found.rec;
  if (!rec) return { decision: { kind: 'nothing', outcome: 'skipped', why: [f.found.why!] }, ...(f.found.named ? { group: 'mismatch' as const } : {}) };
  if (!isAuthoritative(e.sourceType)) return { decision: { kind: 'nothing', outcome: 'unchanged', why: [`${e.sourceType} is not an authoritative source: it never releases a node`] }, group: 'untrusted' };
  const cli = e.sourceType === 'cli';
  let policy = f.policy ?? f.rule?.on_release ?? 'keep';
  // a release by hand always releases: keep would do nothing
  if (cli && policy === 'keep') policy = 'unexport';
  if (policy === 'keep') return { decision: { kind: 'nothing', outcome: 'unchanged', why: ['on_release: keep'] }, group: 'kept' };
  if (rec.state === 'released' && !cli) return { decision: { kind: 'nothing', outcome: 'unchanged', why: ['the node is already released'] }, group: 'released' };
  return { decision: { kind: 'release', policy, lift: cli, why: [cli ? `release requested by the CLI (${policy})` : `${e.sourceType} says the client is gone (on_release: ${policy})`] } };
}

/** Decides whether a node's boot files are rendered again after a template reload: only a ready node whose rule still matches. */
export function decideRerender(rec: NodeRecord, rule: ResolvedRule | undefined): Decision {
  if (rec.state !== 'ready') return { kind: 'nothing', outcome: 'skipped', why: [`the node is ${rec.state}: its next event or pending work writes its files`] };
  if (!rule) return { kind: 'nothing', outcome: 'skipped', why: ['no rule gives this client this node name any more'] };
  return { kind: 'rerender', why: ['templates reloaded'] };
}
