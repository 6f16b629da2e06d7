// Splits one syslog file line into time, host, program tag, pid and message, for the formats the
// TFTP/DHCP daemons' lines reach disk in: rsyslog RFC 3339 (Debian 12), rsyslog traditional,
// busybox syslogd (-S or with "facility.level"), and dnsmasq's own log-facility file (no host).
// Hand-written scanning, no regex on the hot path: the tag is located with a few indexOf calls so
// that unrelated lines are rejected before anything costly (see readProgramTag).

export interface SyslogLine {
  /** ms since the epoch, when the line carried a parseable timestamp */
  time?: number;
  host?: string;
  program: string;
  pid?: number;
  message: string;
}

const MONTHS: Record<string, number> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};

const FACILITY_LEVEL =
  /^(kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local[0-7])\.(emerg|alert|crit|err|warn|warning|notice|info|debug)$/;

interface TagPos {
  /** index where the tag token starts */
  start: number;
  /** index of the ':' that ends the tag */
  colon: number;
  /** index of '[' inside the tag, or -1 */
  bracket: number;
  /** where the timestamp ended (index of the space after it) */
  tsEnd: number;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Finds the tag token ("prog[pid]:" or "prog:") after the timestamp and at most two host/facility tokens. */
function locateTag(line: string): TagPos | undefined {
  let tsEnd: number;
  const c0 = line.charCodeAt(0);
  if (isDigit(c0)) {
    // RFC 3339: 2026-11-22T03:33:03.876688+00:00
    tsEnd = line.indexOf(' ');
    if (tsEnd < 19 || line.charCodeAt(4) !== 45 || line.charCodeAt(10) !== 84) return undefined;
  } else {
    // "Nov 22 03:33:13" / "Nov  2 03:33:13": always 15 characters
    if (line.length < 17 || line.charCodeAt(15) !== 32 || line.charCodeAt(3) !== 32 || line.charCodeAt(9) !== 58) return undefined;
    tsEnd = 15;
  }
  let start = tsEnd + 1;
  for (let tok = 0; tok < 3; tok++) {
    const sp = line.indexOf(' ', start);
    const end = sp === -1 ? line.length : sp;
    if (end === start) return undefined;
    if (line.charCodeAt(end - 1) === 58 /* : */) {
      const colon = end - 1;
      if (colon === start) return undefined;
      const bracket = line.indexOf('[', start);
      return { start, colon, bracket: bracket !== -1 && bracket < colon ? bracket : -1, tsEnd };
    }
    if (sp === -1) return undefined;
    start = sp + 1;
  }
  return undefined;
}

/**
 * The program name of a line, or undefined; cheap enough to run on every line so that lines of
 * untrusted programs are dropped before any regex runs.
 */
export function readProgramTag(line: string): string | undefined {
  const t = locateTag(line);
  if (!t) return undefined;
  return line.slice(t.start, t.bracket === -1 ? t.colon : t.bracket);
}

function parseTime(line: string, tsEnd: number, now: Date): number | undefined {
  if (isDigit(line.charCodeAt(0))) {
    const ms = Date.parse(line.slice(0, tsEnd));
    return Number.isNaN(ms) ? undefined : ms;
  }
  const mon = MONTHS[line.slice(0, 3)];
  const day = Number(line.slice(4, 6).trim());
  const hh = Number(line.slice(7, 9));
  const mm = Number(line.slice(10, 12));
  const ss = Number(line.slice(13, 15));
  if (mon === undefined || !(day >= 1 && day <= 31) || !(hh <= 23) || !(mm <= 59) || !(ss <= 60)) return undefined;
  // no year in the line: assume this year, unless that lands more than a day in the future (December
  // lines read in January)
  let d = new Date(now.getFullYear(), mon, day, hh, mm, ss);
  if (d.getTime() > now.getTime() + 86_400_000) d = new Date(now.getFullYear() - 1, mon, day, hh, mm, ss);
  return d.getTime();
}

/** Parse one line (without its newline); undefined when it has no recognisable timestamp + tag. */
export function parseSyslogLine(line: string, now: Date = new Date()): SyslogLine | undefined {
  const t = locateTag(line);
  if (!t) return undefined;
  const program = line.slice(t.start, t.bracket === -1 ? t.colon : t.bracket);
  if (program.length === 0) return undefined;
  let pid: number | undefined;
  if (t.bracket !== -1) {
    // "prog[123]:" and atftpd's file format "atftpd[123.456]:"
    if (line.charCodeAt(t.colon - 1) !== 93 /* ] */) return undefined;
    const inside = line.slice(t.bracket + 1, t.colon - 1);
    const dot = inside.indexOf('.');
    const num = dot === -1 ? inside : inside.slice(0, dot);
    if (!/^\d{1,10}$/.test(num)) return undefined;
    pid = Number(num);
  }
  // tokens between the timestamp and the tag: [host] [busybox "facility.level"]
  let host: string | undefined;
  if (t.start > t.tsEnd + 1) {
    for (const tok of line.slice(t.tsEnd + 1, t.start - 1).split(' ')) {
      if (host === undefined && !FACILITY_LEVEL.test(tok)) host = tok;
    }
  }
  // the message starts after "tag: "; rsyslog keeps the space, journald-style lines may not have it
  let msgStart = t.colon + 1;
  if (line.charCodeAt(msgStart) === 32) msgStart++;
  const res: SyslogLine = { program, message: line.slice(msgStart) };
  const time = parseTime(line, t.tsEnd, now);
  if (time !== undefined) res.time = time;
  if (host !== undefined) res.host = host;
  if (pid !== undefined) res.pid = pid;
  return res;
}
