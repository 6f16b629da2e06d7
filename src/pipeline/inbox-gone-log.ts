// The inbox's summaries of gone events (src/pipeline/inbox.ts): thousands of leases removed at once
// change nothing for most of their nodes, and are logged as one line per outcome per window.
import type { BurstLine } from '../daemon/burst-log.ts';

/** The example a summary of gone events names. */
export interface GoneExample {
  ip: string;
  mac?: string;
  node: string;
  reason: string;
  source: string;
  why?: string;
}

/**
 * One info line per outcome per window for gone events that change nothing (thousands of leases
 * removed at once): `kept` (on_release: keep), `released` (already), `mismatch` (an identifier
 * does not match the node), `untrusted:TYPE` (a source that never releases). Releases themselves
 * are logged by the job.
 */
export function renderGone(group: string, count: number, ex: GoneExample): BurstLine {
  const one = count === 1;
  const fields = { outcome: group, clients: count, node: ex.node, ip: ex.ip, reason: ex.reason, source: ex.source };
  const eg = `e.g. ${ex.ip} (node ${ex.node}, ${ex.reason})`;
  if (group === 'kept') return { fields, msg: one ? `client ${ex.ip} gone (${ex.reason}); node ${ex.node} kept (on_release: keep)` : `${count} clients gone; their nodes kept (on_release: keep), ${eg}` };
  if (group === 'released') return { fields, msg: one ? `client ${ex.ip} gone (${ex.reason}); node ${ex.node} was already released` : `${count} clients gone whose nodes were already released, ${eg}` };
  if (group === 'mismatch') {
    const what = `${ex.ip}${ex.mac ? ` ${ex.mac}` : ''} from ${ex.source}`;
    return { fields: { ...fields, why: ex.why }, msg: one ? `release of ${what} not taken: ${ex.why}` : `${count} releases not taken: their identifiers do not all match one node, e.g. ${what}: ${ex.why}` };
  }
  const type = group.slice(group.indexOf(':') + 1);
  return { fields, msg: one ? `client ${ex.ip} gone per ${type}; node ${ex.node} not released (${type} is not an authoritative source)` : `${count} clients gone per ${type}; no node released (${type} is not an authoritative source), ${eg}` };
}
