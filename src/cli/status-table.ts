// Pure rendering of node records for `status`: a fixed-column table for people.
import type { NodeRecord } from '../types.ts';

/** Columns of the human table, in order. */
export const STATUS_COLUMNS = ['NODE', 'MAC', 'IP', 'HOSTNAME', 'SUBNET', 'STATE', 'FSID', 'LAST SEEN', 'SOURCES', 'LAST ERROR'] as const;

/** "12s ago", "5m ago", "3h ago", "2d ago", or "-" for never. */
export function formatAge(time: number, now: number): string {
  if (!time) return '-';
  const s = Math.max(0, Math.round((now - time) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function oneLine(s: string, max: number): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
}

/** The table as text (header + one line per node, sorted by name). */
export function renderStatusTable(nodes: NodeRecord[], now: number): string {
  const rows = [...nodes]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((n) => [
      n.name,
      n.mac ?? '-',
      n.ip,
      n.hostname ?? '-',
      n.subnet || '-',
      n.state,
      n.fsid ? String(n.fsid) : '-',
      formatAge(n.lastSeen, now),
      n.sources.map((s) => s.split(':')[0]).filter((s, i, a) => a.indexOf(s) === i).join(',') || '-',
      n.lastError ? oneLine(n.lastError, 80) : '-',
    ]);
  const all = [[...STATUS_COLUMNS], ...rows];
  const widths = STATUS_COLUMNS.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const lines = all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  return lines.join('\n') + '\n';
}

/** One summary line: counts by state. */
export function renderSummary(nodes: NodeRecord[], from: string): string {
  const c: Record<string, number> = { pending: 0, ready: 0, failed: 0, released: 0 };
  for (const n of nodes) c[n.state] = (c[n.state] ?? 0) + 1;
  return `${nodes.length} node${nodes.length === 1 ? '' : 's'} (${c.ready} ready, ${c.pending} pending, ${c.failed} failed, ${c.released} released) from ${from}\n`;
}

/** `status X` picks nodes by name, IP or MAC (any separator, any case). */
export function matchesNode(n: NodeRecord, q: string): boolean {
  const t = q.trim().toLowerCase();
  const mac = t.replace(/-/g, ':');
  return n.name.toLowerCase() === t || n.ip === t || (n.mac !== undefined && n.mac === mac);
}

/** The last-boot timeline of one node, one entry a line, with offsets from its first entry. */
export function renderTimeline(n: NodeRecord): string {
  const t = n.timeline ?? [];
  if (!t.length) return `timeline of ${n.name}: empty\n`;
  const t0 = t[0]!.time;
  const lines = t.map((e) => `  ${new Date(e.time).toISOString()}  +${String(e.time - t0).padStart(6)} ms  ${e.what}${e.source ? `  (${e.source})` : ''}`);
  return `timeline of ${n.name} (last boot):\n${lines.join('\n')}\n`;
}
