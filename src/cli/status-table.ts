// Pure rendering of node records for `status`: a fixed-column table for people, printed as the
// rows arrive.
import type { NodeRecord } from '../types.ts';
import { byName, type StatusRow } from '../status-doc.ts';
import { describeBootOnce } from '../boot-once/machine.ts';

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

/** The cells of one table line. */
export function tableCells(n: StatusRow, now: number): string[] {
  return [
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
  ];
}

/** The table as text (header + one line per node, sorted by name). */
export function renderStatusTable(nodes: StatusRow[], now: number): string {
  const w = createTableWriter(now, Infinity);
  return [...nodes].sort(byName).map((n) => w.push(n)).join('') + w.end();
}

/** Rows a table writer holds to size its columns before it prints the first line. */
export const TABLE_SAMPLE_ROWS = 1000;

/** Counts of a table's rows by state. */
export type StateCounts = Record<NodeRecord['state'], number>;

/** A table printed as its rows arrive, in the order given. */
export interface TableWriter {
  /** text to print now (empty while the first `sample` rows are held) */
  push(n: StatusRow): string;
  /** the rest of the text (the whole table when it had at most `sample` rows; the header when none) */
  end(): string;
  readonly count: number;
  readonly states: StateCounts;
}

/**
 * Column widths come from the first `sample` rows (the whole table when it is no longer, so the
 * text is the same as a table sized over every row). A later cell that is wider widens its column
 * from that line on: a table of 100,000 nodes is printed without holding all of its lines.
 */
export function createTableWriter(now: number, sample = TABLE_SAMPLE_ROWS): TableWriter {
  const widths = STATUS_COLUMNS.map((c) => c.length);
  let held: string[][] | undefined = [];
  let count = 0;
  const states: StateCounts = { pending: 0, ready: 0, failed: 0, released: 0, verifying: 0, quarantined: 0 };
  const line = (r: string[]) => {
    for (let i = 0; i < r.length; i++) if (r[i]!.length > widths[i]!) widths[i] = r[i]!.length;
    return r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n';
  };
  const flush = () => {
    const rows = held!;
    held = undefined;
    for (const r of rows) for (let i = 0; i < r.length; i++) if (r[i]!.length > widths[i]!) widths[i] = r[i]!.length;
    return line([...STATUS_COLUMNS]) + rows.map(line).join('');
  };
  return {
    push(n) {
      count++;
      states[n.state] = (states[n.state] ?? 0) + 1;
      const cells = tableCells(n, now);
      if (!held) return line(cells);
      held.push(cells);
      return held.length >= sample ? flush() : '';
    },
    end: () => (held ? flush() : ''),
    get count() {
      return count;
    },
    states,
  };
}

/** The summary line from a table writer's counts. */
export function summaryLine(count: number, c: StateCounts, from: string): string {
  // the boot-once states only when some node is in one: the usual line stays as it was
  const more = [c.verifying && `${c.verifying} verifying`, c.quarantined && `${c.quarantined} quarantined`].filter(Boolean).join(', ');
  return `${count} node${count === 1 ? '' : 's'} (${c.ready} ready, ${c.pending} pending, ${c.failed} failed, ${c.released} released${more ? `, ${more}` : ''}) from ${from}\n`;
}

/** One summary line: counts by state. */
export function renderSummary(nodes: Array<Pick<NodeRecord, 'state'>>, from: string): string {
  const c: StateCounts = { pending: 0, ready: 0, failed: 0, released: 0, verifying: 0, quarantined: 0 };
  for (const n of nodes) c[n.state] = (c[n.state] ?? 0) + 1;
  return summaryLine(nodes.length, c, from);
}

/** `status X` picks nodes by name, IP or MAC (any separator, any case). */
export function matchesNode(n: NodeRecord, q: string): boolean {
  const t = q.trim().toLowerCase();
  const mac = t.replace(/-/g, ':');
  return n.name.toLowerCase() === t || n.ip === t || (n.mac !== undefined && n.mac === mac);
}

/** A node's boot-once state (queue, current profile, results with their details), or '' when it has none. */
export function renderBootOnce(n: NodeRecord): string {
  const bo = n.bootOnce;
  const said = describeBootOnce(bo);
  if (!bo || !said) return '';
  const lines = [`boot-once of ${n.name}: ${bo.quarantined || bo.current || bo.queue.length ? said.replace(/; done .*$/, '') : 'nothing queued'}`];
  for (const r of bo.results) {
    const details = r.details === undefined ? '' : `  ${oneLine(JSON.stringify(r.details), 160)}`;
    lines.push(`  ${new Date(r.time).toISOString()}  ${r.profile.padEnd(12)} ${r.result.padEnd(9)}${details}`);
  }
  return lines.join('\n') + '\n';
}

/** The last-boot timeline of one node, one entry a line, with offsets from its first entry (after its boot-once state). */
export function renderTimeline(n: NodeRecord): string {
  const bootOnce = renderBootOnce(n);
  if (bootOnce) return bootOnce + renderTimelineOnly(n);
  return renderTimelineOnly(n);
}

function renderTimelineOnly(n: NodeRecord): string {
  const t = n.timeline ?? [];
  if (!t.length) return `timeline of ${n.name}: empty\n`;
  const t0 = t[0]!.time;
  const lines = t.map((e) => `  ${new Date(e.time).toISOString()}  +${String(e.time - t0).padStart(6)} ms  ${e.what}${e.source ? `  (${e.source})` : ''}`);
  return `timeline of ${n.name} (last boot):\n${lines.join('\n')}\n`;
}
