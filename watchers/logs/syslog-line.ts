// Splits one syslog file line into time, host, program tag, pid and message, for the formats the
// TFTP/DHCP daemons' lines reach disk in: rsyslog RFC 3339 (Debian 12), rsyslog traditional, rsyslog
// RFC 5424 (RSYSLOG_SyslogProtocol23Format), busybox syslogd (default "host facility.level" and -S),
// and dnsmasq's own log-facility file (no host).
// The tag is read from exactly its position in the line's format, never by skipping tokens: a tag
// that the syslog daemon saw as `x` (logger -t 'x dnsmasq-dhcp') is `x` here too. Hand-written
// scanning, no regex on the hot path, so unrelated lines are rejected before anything costly.
import type { SyslogLayout } from '../../src/types.ts';

export interface SyslogLine {
  /** ms since the epoch, when the line carried a parseable timestamp */
  time?: number;
  host?: string;
  program: string;
  pid?: number;
  message: string;
}

/**
 * What one source's lines have shown so far, for the traditional-timestamp forms that only the
 * writer tells apart. A line with no host ("Nov 22 03:33:13 prog[1]: m": dnsmasq's file, busybox -S)
 * cannot be forged where the writer adds a host, so after one the host forms are refused (else
 * `logger -t 'x dnsmasq-dhcp'` would read as host x, tag dnsmasq-dhcp). A host + tag line (rsyslog)
 * turns off busybox's "host facility.level tag" form (else `logger -t 'daemon.notice in.tftpd'`).
 */
export interface SyslogFormat {
  noHostOnly: boolean;
  noFacility: boolean;
}

/**
 * A fresh SyslogFormat: with `auto`, every form is allowed until the source's lines show which one
 * it writes; a declared layout closes the others from the first line, so no forged tag can be
 * read before a genuine line has taught the source its form.
 */
export function newSyslogFormat(layout: SyslogLayout = 'auto'): SyslogFormat {
  if (layout === 'plain') return { noHostOnly: true, noFacility: true };
  if (layout === 'rsyslog') return { noHostOnly: false, noFacility: true };
  return { noHostOnly: false, noFacility: false };
}

const MONTHS: Record<string, number> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};

const FACILITY_LEVEL =
  /^(kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local[0-7])\.(emerg|alert|crit|err|warn|warning|notice|info|debug)$/;

interface TagPos {
  /** where the timestamp starts and ends (index of the space after it) */
  tsStart: number;
  tsEnd: number;
  /** host token [hostStart, hostEnd), or hostStart -1 */
  hostStart: number;
  hostEnd: number;
  /** program [start, end) */
  start: number;
  end: number;
  /** pid text [pidStart, pidEnd), or pidStart -1 */
  pidStart: number;
  pidEnd: number;
  msgStart: number;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** end of the token starting at `start` (next space or the line's end); -1 if the token is empty */
function tokenEnd(line: string, start: number): number {
  if (start >= line.length) return -1;
  const sp = line.indexOf(' ', start);
  const end = sp === -1 ? line.length : sp;
  return end === start ? -1 : end;
}

/** A "prog:" / "prog[pid]:" token at [start, end) -> its position, else undefined. */
function tagToken(line: string, start: number, end: number, ts: [number, number], host: [number, number]): TagPos | undefined {
  if (end - start < 2 || line.charCodeAt(end - 1) !== 58 /* : */) return undefined;
  const colon = end - 1;
  const bracket = line.indexOf('[', start);
  let progEnd = colon;
  let pidStart = -1;
  let pidEnd = -1;
  if (bracket !== -1 && bracket < colon) {
    // "prog[123]:" and atftpd's file format "atftpd[123.456]:"
    if (line.charCodeAt(colon - 1) !== 93 /* ] */) return undefined;
    progEnd = bracket;
    pidStart = bracket + 1;
    pidEnd = colon - 1;
  }
  if (progEnd === start) return undefined;
  // the message starts after "tag: "; rsyslog keeps the space, other writers may not
  const msgStart = line.charCodeAt(end) === 32 ? end + 1 : end;
  return { tsStart: ts[0], tsEnd: ts[1], hostStart: host[0], hostEnd: host[1], start, end: progEnd, pidStart, pidEnd, msgStart };
}

/** RFC 5424: "<PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID SD [MSG]"; "-" is a nil field. */
function locate5424(line: string): TagPos | undefined {
  const gt = line.indexOf('>');
  if (gt < 2 || gt > 4 || line.charCodeAt(gt + 1) !== 49 /* 1 */ || line.charCodeAt(gt + 2) !== 32) return undefined;
  const ts = gt + 3;
  const tsEnd = tokenEnd(line, ts);
  const hostEnd = tsEnd < 0 ? -1 : tokenEnd(line, tsEnd + 1);
  const appEnd = hostEnd < 0 ? -1 : tokenEnd(line, hostEnd + 1);
  const pidEnd = appEnd < 0 ? -1 : tokenEnd(line, appEnd + 1);
  const msgIdEnd = pidEnd < 0 ? -1 : tokenEnd(line, pidEnd + 1);
  if (msgIdEnd < 0 || msgIdEnd >= line.length) return undefined;
  const app = hostEnd + 1;
  if (appEnd - app === 1 && line.charCodeAt(app) === 45) return undefined; // no APP-NAME
  // structured data: "-" or [id k="v" ...]... with \" and \] escaped inside values
  let i = msgIdEnd + 1;
  if (line.charCodeAt(i) === 45) i++;
  else {
    if (line.charCodeAt(i) !== 91) return undefined;
    let inQuote = false;
    let closed = false;
    for (; i < line.length && !closed; i++) {
      const c = line.charCodeAt(i);
      if (inQuote) {
        if (c === 92) i++;
        else if (c === 34) inQuote = false;
      } else if (c === 34) inQuote = true;
      else if (c === 93 && line.charCodeAt(i + 1) !== 91) closed = true;
    }
    if (!closed) return undefined;
  }
  if (i < line.length && line.charCodeAt(i) !== 32) return undefined;
  const p = appEnd + 1;
  const nilPid = pidEnd - p === 1 && line.charCodeAt(p) === 45;
  // rsyslog writes "SD  MSG" (its MSG keeps the space after the tag): one space separates, the rest is message
  let msgStart = Math.min(i + 1, line.length);
  if (line.charCodeAt(msgStart) === 32) msgStart++;
  return { tsStart: ts, tsEnd, hostStart: tsEnd + 1, hostEnd, start: app, end: appEnd, pidStart: nilPid ? -1 : p, pidEnd, msgStart };
}

/** The tag's position in the line's format (see SyslogFormat for the forms only the writer tells apart). */
function locateTag(line: string, fmt: SyslogFormat | undefined): TagPos | undefined {
  const c0 = line.charCodeAt(0);
  if (c0 === 60 /* < */) return locate5424(line);
  if (isDigit(c0)) {
    // RFC 3339 "2026-11-22T03:33:03.876688+00:00 HOST TAG MSG": only rsyslog writes it, always with a host
    const tsEnd = line.indexOf(' ');
    if (tsEnd < 19 || line.charCodeAt(4) !== 45 || line.charCodeAt(10) !== 84) return undefined;
    const hostEnd = tokenEnd(line, tsEnd + 1);
    if (hostEnd < 0) return undefined;
    const t = tagToken(line, hostEnd + 1, tokenEnd(line, hostEnd + 1), [0, tsEnd], [tsEnd + 1, hostEnd]);
    if (t && fmt) fmt.noFacility = true;
    return t;
  }
  // "Nov 22 03:33:13" / "Nov  2 03:33:13": always 15 characters
  if (line.length < 17 || line.charCodeAt(15) !== 32 || line.charCodeAt(3) !== 32 || line.charCodeAt(9) !== 58) return undefined;
  const ts: [number, number] = [0, 15];
  const e1 = tokenEnd(line, 16);
  if (e1 < 0) return undefined;
  if (line.charCodeAt(e1 - 1) === 58) {
    // "TS TAG: MSG": dnsmasq's log-facility file, busybox syslogd -S
    const t = tagToken(line, 16, e1, ts, [-1, -1]);
    if (t && fmt) fmt.noHostOnly = true;
    return t;
  }
  if (fmt?.noHostOnly) return undefined;
  const e2 = tokenEnd(line, e1 + 1);
  if (e2 < 0) return undefined;
  if (line.charCodeAt(e2 - 1) === 58) {
    // "TS HOST TAG: MSG": rsyslog's traditional format
    const t = tagToken(line, e1 + 1, e2, ts, [16, e1]);
    if (t && fmt) fmt.noFacility = true;
    return t;
  }
  // "TS HOST facility.level TAG: MSG": busybox syslogd without -S
  if (fmt?.noFacility || !FACILITY_LEVEL.test(line.slice(e1 + 1, e2))) return undefined;
  return tagToken(line, e2 + 1, tokenEnd(line, e2 + 1), ts, [16, e1]);
}

/**
 * The program name of a line, or undefined; cheap enough to run on every line so that lines of
 * untrusted programs are dropped before any regex runs. Pass the source's SyslogFormat so that what
 * its lines show about their format applies to the next ones.
 */
export function readProgramTag(line: string, fmt?: SyslogFormat): string | undefined {
  const t = locateTag(line, fmt);
  return t && line.slice(t.start, t.end);
}

function parseTime(line: string, tsStart: number, tsEnd: number, now: Date): number | undefined {
  if (isDigit(line.charCodeAt(tsStart))) {
    const ms = Date.parse(line.slice(tsStart, tsEnd));
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
export function parseSyslogLine(line: string, now: Date = new Date(), fmt?: SyslogFormat): SyslogLine | undefined {
  const t = locateTag(line, fmt);
  if (!t) return undefined;
  let pid: number | undefined;
  if (t.pidStart !== -1) {
    const inside = line.slice(t.pidStart, t.pidEnd);
    const dot = inside.indexOf('.');
    const num = dot === -1 ? inside : inside.slice(0, dot);
    if (!/^\d{1,10}$/.test(num)) return undefined;
    pid = Number(num);
  }
  const res: SyslogLine = { program: line.slice(t.start, t.end), message: line.slice(t.msgStart) };
  const time = parseTime(line, t.tsStart, t.tsEnd, now);
  if (time !== undefined) res.time = time;
  if (t.hostStart !== -1) res.host = line.slice(t.hostStart, t.hostEnd);
  if (pid !== undefined) res.pid = pid;
  return res;
}
