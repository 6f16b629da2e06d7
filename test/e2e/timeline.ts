// One boot, step by step, from every witness we have: tcpdump on the bridge (DHCP, TFTP RRQs, NFS
// connects, µs epoch stamps), the TFTP daemons' logs (which requests were refused), pxebootd's
// JSON log, file pollers on the server (lease line, boot file, upper-dir file) and the guest's
// serial console (markers stamped when we first read them). Parsing is pure; Stamper polls.
import type { SerialLine } from '../helpers/qemu.ts';

export interface TimelineEvent {
  /** ms since the epoch */
  time: number;
  source: string;
  what: string;
}

/** tcpdump -tt lines for one client: DHCP packets, TFTP requests, NFS connection attempts. */
export function parseTcpdump(text: string, mac: string, ip: string): Array<TimelineEvent & { rrq?: string }> {
  const out: Array<TimelineEvent & { rrq?: string }> = [];
  const ipRe = ip.replace(/\./g, '\\.');
  for (const line of text.split('\n')) {
    const m = /^(\d+\.\d+) IP (.*)$/.exec(line);
    if (!m) continue;
    const time = Math.round(Number(m[1]) * 1000);
    const rest = m[2]!;
    if (rest.includes(`Request from ${mac}`)) out.push({ time, source: 'tcpdump', what: `DHCP client -> server (${mac})` });
    else if (new RegExp(`^\\S+\\.67 > ${ipRe}\\.68: BOOTP/DHCP, Reply`).test(rest)) out.push({ time, source: 'tcpdump', what: `DHCP server -> client (offer/ack for ${ip})` });
    else {
      const r = new RegExp(`^${ipRe}\\.\\d+ > (\\S+)\\.69: TFTP, .*RRQ "([^"]+)"`).exec(rest);
      if (r) out.push({ time, source: 'tcpdump', what: `TFTP RRQ ${r[2]} (to ${r[1]})`, rrq: r[2]! });
      else if (new RegExp(`^${ipRe}\\.\\d+ > \\S+\\.2049: Flags \\[S\\]`).test(rest)) out.push({ time, source: 'tcpdump', what: 'NFS: TCP connect to port 2049' });
    }
  }
  return out;
}

/**
 * Which of a client's TFTP requests were refused, in request order per file name:
 * tftpd-hpa via syslog ("RRQ from IP filename F" then "sending NAK ... to IP" from the same pid),
 * dnsmasq via its log ("sent ROOT/F to IP" / "file ROOT/F not found for IP").
 */
export function tftpOutcomes(syslogText: string, dnsmasqLog: string, tftpRoot: string, ip: string): Map<string, boolean[]> {
  const out = new Map<string, boolean[]>();
  const push = (f: string, ok: boolean) => out.set(f, [...(out.get(f) ?? []), ok]);
  const pending = new Map<string, string>();
  const order: Array<{ pid: string; file: string }> = [];
  for (const line of syslogText.split('\n')) {
    const rrq = /in\.tftpd\[(\d+)\]: RRQ from (\S+) filename (.+)$/.exec(line);
    if (rrq && rrq[2] === ip) {
      pending.set(rrq[1]!, rrq[3]!);
      order.push({ pid: rrq[1]!, file: rrq[3]! });
      continue;
    }
    const nak = /in\.tftpd\[(\d+)\]: sending NAK .* to (\S+)$/.exec(line);
    if (nak && nak[2] === ip && pending.has(nak[1]!)) pending.set(nak[1]!, `NAK:${pending.get(nak[1]!)}`);
  }
  for (const { pid } of order) {
    const v = pending.get(pid)!;
    if (v.startsWith('NAK:')) push(v.slice(4), false);
    else push(v, true);
  }
  const root = tftpRoot.endsWith('/') ? tftpRoot : tftpRoot + '/';
  for (const line of dnsmasqLog.split('\n')) {
    const sent = /dnsmasq-tftp\[\d+\]: sent (\S+) to (\S+)$/.exec(line);
    if (sent && sent[2] === ip && sent[1]!.startsWith(root)) push(sent[1]!.slice(root.length), true);
    const nf = /dnsmasq-tftp\[\d+\]: file (\S+) not found for (\S+)$/.exec(line);
    if (nf && nf[2] === ip && nf[1]!.startsWith(root)) push(nf[1]!.slice(root.length), false);
  }
  return out;
}

/** Mark each RRQ event "(refused)" / "(served)" using tftpOutcomes, in order per file name. */
export function annotateRrqs(events: Array<TimelineEvent & { rrq?: string }>, outcomes: Map<string, boolean[]>): TimelineEvent[] {
  const seen = new Map<string, number>();
  return events.map((e) => {
    if (!e.rrq) return e;
    const i = seen.get(e.rrq) ?? 0;
    seen.set(e.rrq, i + 1);
    const ok = outcomes.get(e.rrq)?.[i];
    return { ...e, what: `${e.what}${ok === undefined ? '' : ok ? ' served' : ' NOT FOUND'}` };
  });
}

/** Collapse pxelinux's run of hex-prefix config names (0A630033, 0A63003, ... 0) into one line. */
export function collapseHexChain(events: TimelineEvent[]): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  let run: TimelineEvent[] = [];
  const flush = () => {
    if (run.length <= 2) out.push(...run);
    else out.push({ ...run[0]!, what: `${run[0]!.what} ... ${run.at(-1)!.what.replace(/^TFTP RRQ /, '')} (${run.length} hex names)` });
    run = [];
  };
  for (const e of events) {
    if (/TFTP RRQ pxelinux\.cfg\/[0-9A-F]{1,8} /.test(e.what)) run.push(e);
    else {
      flush();
      out.push(e);
    }
  }
  flush();
  return out;
}

/** Serial console lines worth a timeline entry: our markers and the firmware/pxelinux milestones. */
export function serialEvents(lines: SerialLine[]): TimelineEvent[] {
  const keep = /E2E-MARKER|^Configuring \(net0|^PXELINUX \d|^boot:|Loading vmlinuz|Loading initrd|Linux version|reboot: Power down/;
  const out: TimelineEvent[] = [];
  let last = '';
  for (const l of lines) {
    const m = keep.exec(l.text);
    if (!m) continue;
    let what = l.text.replace(/^.*?E2E-MARKER /, '').replace(/^\[\s*[\d.]+\] /, '');
    if (/Linux version/.test(what)) what = what.replace(/^.*(Linux version \S+).*$/, 'kernel: $1');
    // pxelinux's SERIAL directive and SeaBIOS's sercon both echo the prompt
    if (/^(boot:)+$/.test(what)) what = 'pxelinux boot: prompt (the fallback config is counting down)';
    what = what.length > 150 ? what.slice(0, 147) + '...' : what;
    if (what === last) continue;
    last = what;
    out.push({ time: l.time, source: 'serial', what });
  }
  return out;
}

/** pxebootd JSON log lines that mention this client (by ip, mac or node name). */
export function pxebootdEvents(text: string, keys: string[]): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (!keys.some((k) => line.includes(k))) continue;
    const time = typeof o.time === 'number' ? o.time : Date.parse(String(o.time));
    if (!Number.isFinite(time)) continue;
    const extra = ['node', 'step', 'op', 'source', 'file', 'fsid', 'state', 'ms']
      .filter((k) => o[k] !== undefined && typeof o[k] !== 'object')
      .map((k) => `${k}=${String(o[k])}`)
      .join(' ');
    out.push({ time, source: 'pxebootd', what: `${String(o.msg ?? '')}${extra ? ` (${extra})` : ''}` });
  }
  return out;
}

/** Polls predicates every `intervalMs` and stamps the first time each holds. */
export class Stamper {
  readonly events: TimelineEvent[] = [];
  private checks: Array<{ source: string; what: string; pred: () => boolean }> = [];
  private timer: NodeJS.Timeout;
  constructor(intervalMs = 10) {
    this.timer = setInterval(() => this.poll(), intervalMs);
  }
  watch(source: string, what: string, pred: () => boolean): void {
    this.checks.push({ source, what, pred });
  }
  first(what: string): TimelineEvent | undefined {
    return this.events.find((e) => e.what === what);
  }
  stop(): void {
    this.poll();
    clearInterval(this.timer);
  }
  private poll(): void {
    const now = Date.now();
    this.checks = this.checks.filter((c) => {
      let ok = false;
      try {
        ok = c.pred();
      } catch {
        ok = false;
      }
      if (ok) this.events.push({ time: now, source: c.source, what: c.what });
      return !ok;
    });
  }
}

/** "+  2.294s  tcpdump   TFTP RRQ ..." lines, relative to t0, sorted by time. */
export function renderTimeline(title: string, t0: number, events: TimelineEvent[]): string {
  const sorted = [...events].sort((a, b) => a.time - b.time);
  const lines = sorted.map((e) => {
    const dt = ((e.time - t0) / 1000).toFixed(3).padStart(8);
    return `${dt.startsWith(' -') || dt.includes('-') ? dt : '+' + dt.slice(1)}s  ${e.source.padEnd(8)}  ${e.what}`;
  });
  return `${title}\n${lines.join('\n')}\n`;
}

/** The milestones the README shows, picked from a full timeline: [label, matcher] in boot order. */
export const MILESTONES: Array<[string, RegExp]> = [
  ['PXE DHCP (first packet from the client)', /^DHCP client -> server/],
  ['lease line written by dnsmasq', /^dnsmasq lease line written/],
  ['overlay mounted', /^overlay mounted/],
  ['EXPORT block written (Ganesha reloaded)', /^EXPORT block/],
  ['pxebootd: node ready', /^node \S+ ready/],
  ['boot file written', /^boot file pxelinux\.cfg/],
  ['first TFTP request (pxelinux.0)', /^TFTP RRQ pxelinux\.0 /],
  ['fallback pxelinux.cfg/default served', /^TFTP RRQ pxelinux\.cfg\/default .*served/],
  ['own pxelinux config served', /^TFTP RRQ pxelinux\.cfg\/(01-|[0-9A-F]{8} ).*served/],
  ['kernel requested (vmlinuz)', /^TFTP RRQ vmlinuz /],
  ['initramfs: NFS root mounted', /^initramfs: nfs mounted/],
  ['guest wrote /written-by-guest', /^nfsroot: wrote \/written-by-guest:/],
  ['file visible in upper dir on the server', /^upper\/written-by-guest appeared/],
  ['guest powered off', /^exited \(code/],
];

/** A markdown table of the first occurrence of each milestone (those that happened). */
export function renderMilestones(title: string, t0: number, events: TimelineEvent[]): string {
  const sorted = [...events].sort((a, b) => a.time - b.time);
  const rows = MILESTONES.flatMap(([label, re]) => {
    const e = sorted.find((x) => re.test(x.what));
    return e ? [{ time: e.time, row: `| ${label} | +${((e.time - t0) / 1000).toFixed(3)} s | ${e.source} |` }] : [];
  })
    .sort((a, b) => a.time - b.time)
    .map((r) => r.row);
  return `${title}\n\n| step | since power-on | witness |\n|---|---|---|\n${rows.join('\n')}\n`;
}
