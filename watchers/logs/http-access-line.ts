// One line of an HTTP server's access log in the combined format (Apache's and nginx's built-in
// `combined`; `nginx` also takes nginx's stock `main`, which appends "$http_x_forwarded_for"):
//   IP IDENT USER [TIME] "REQUEST" STATUS BYTES "REFERER" "USER-AGENT"[ "X-FORWARDED-FOR"]
// Everything after the address is client input: the request line, the referer and the user agent
// are what the client sent, with `"`, `\` and bytes outside 0x20-0x7e escaped by the server
// (nginx: \xHH; Apache: \" \\ \xhh \n \t). Hand-written scanning, linear in the line's length.

/** Which access-log layout a source's server writes. */
export type AccessLogFormat = 'combined' | 'nginx';

/** The fields of one access-log line that matter to pxebootd, before any judgement. */
export interface AccessLine {
  /** the first field as written ($remote_addr / %h) */
  addr: string;
  /** the request line's bytes, escapes undone (latin1: one char per byte) */
  request: string;
  status: number;
}

/** A line, or why it is not one of the declared format. */
export type AccessLineResult = { ok: true; line: AccessLine } | { ok: false; reason: string };

const fail = (reason: string): AccessLineResult => ({ ok: false, reason });

/** A quoted field at `start` (which must be `"`): its unescaped text and the index after its closing quote. */
function readQuoted(s: string, start: number): { text: string; end: number } | undefined {
  if (s.charCodeAt(start) !== 34) return undefined;
  let out = '';
  let i = start + 1;
  let from = i;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 34) return { text: out + s.slice(from, i), end: i + 1 };
    if (c !== 92) {
      i++;
      continue;
    }
    out += s.slice(from, i);
    const n = s[i + 1];
    if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 2, i + 4))) {
      out += String.fromCharCode(parseInt(s.slice(i + 2, i + 4), 16));
      i += 4;
    } else if (n === '"' || n === '\\') {
      out += n;
      i += 2;
    } else if (n === 'n' || n === 't' || n === 'r') {
      out += n === 'n' ? '\n' : n === 't' ? '\t' : '\r';
      i += 2;
    } else {
      return undefined; // a lone backslash: no server writes one
    }
    from = i;
  }
  return undefined; // no closing quote: the line was cut
}

/** Parse one line (no newline) of the given format. */
export function parseAccessLine(line: string, format: AccessLogFormat): AccessLineResult {
  const sp = line.indexOf(' ');
  if (sp <= 0) return fail('access log line without a client address field');
  const addr = line.slice(0, sp);
  const q = line.indexOf('"', sp);
  if (q === -1) return fail('access log line without a quoted request');
  // between the address and the request: IDENT USER [TIME] with the time last
  const pre = line.slice(sp + 1, q);
  const open = pre.lastIndexOf(' [');
  if (!pre.endsWith('] ') || open === -1 || open + 2 >= pre.length - 2) return fail('access log line without "[time]" before the request');
  const req = readQuoted(line, q);
  if (!req) return fail('access log line with a cut or malformed request field');
  const m = /^ (\d{3}) (\d+|-) /.exec(line.slice(req.end, req.end + 30));
  if (!m) return fail('access log line without "STATUS BYTES" after the request');
  let i = req.end + m[0].length;
  let quoted = 0;
  for (;;) {
    const f = readQuoted(line, i);
    if (!f) return fail(`access log line with a cut or malformed quoted field ${quoted + 1} after the status`);
    quoted++;
    i = f.end;
    if (i === line.length) break;
    if (line.charCodeAt(i) !== 32) return fail('access log line with text after its last quoted field');
    i++;
  }
  const want = format === 'nginx' ? '2 or 3' : '2';
  if (quoted !== 2 && !(format === 'nginx' && quoted === 3)) return fail(`access log line with ${quoted} quoted fields after the status (${format} has ${want})`);
  return { ok: true, line: { addr, request: req.text, status: Number(m[1]) } };
}
