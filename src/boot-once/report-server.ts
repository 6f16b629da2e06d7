// The report endpoint: nodes in a `done_when: reported` profile POST their result here. The HTTP
// shell is node:http; what a request may say is checked by the pure parseReport; whether it counts
// (the node's own IP, its current one-time token) is the daemon's answer through `handle`.
// Anything else gets a 4xx and changes nothing.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIPv4 } from '../validate.ts';

/** Largest request body taken (the details of a verify run are a few KB). */
export const REPORT_MAX_BYTES = 64 * 1024;
/** Where nodes POST. */
export const REPORT_PATH = '/v1/report';
/** Longest token accepted (ours are 32 characters). */
const TOKEN_MAX = 256;
/** A request that has not sent its body by then is cut off (a slow client holds a socket, nothing else). */
const REQUEST_TIMEOUT_MS = 15_000;

/** HOST:PORT (as config's checkListen allows it) -> host and port; `[v6]` loses its brackets. */
export function parseReportListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen.trim());
  if (!m) throw new Error(`report.listen: expected HOST:PORT such as 10.0.0.1:9643, found ${JSON.stringify(listen)}`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

/** {{report_url}}: the listen address, or `server` when it listens on every address. */
export function reportUrl(listen: string, server: string): string {
  const { host, port } = parseReportListen(listen);
  const h = host === '0.0.0.0' || host === '::' ? server : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}${REPORT_PATH}`;
}

/** A report as sent, once its shape is checked. */
export interface Report {
  token: string;
  result: 'pass' | 'fail';
  details?: Record<string, unknown>;
}

/** What the daemon answers: an HTTP status and a JSON body. */
export interface ReportAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** A new one-time token (URL- and command-line-safe) and its stored form. */
export function newToken(): { token: string; hash: string } {
  const token = randomBytes(24).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** The stored form of a token: sha256, hex. A state file or status output never holds the token itself. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Does `token` hash to `hash`? In constant time over the hashes. */
export function tokenMatches(token: string, hash: string): boolean {
  const a = Buffer.from(hashToken(token), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Parse a report body; a string is the reason it is refused. */
export function parseReport(text: string): Report | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'expected a JSON object {"token","result","details"}: the body is not JSON';
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'expected a JSON object {"token","result","details"}';
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'token' && k !== 'result' && k !== 'details') return `unexpected key ${JSON.stringify(k.slice(0, 40))}: expected token, result, details`;
  if (typeof o.token !== 'string' || o.token.length === 0 || o.token.length > TOKEN_MAX) return 'expected "token": the one-time token from the kernel command line';
  if (o.result !== 'pass' && o.result !== 'fail') return 'expected "result": "pass" or "fail"';
  if (o.details !== undefined && (o.details === null || typeof o.details !== 'object' || Array.isArray(o.details))) return 'expected "details" to be a JSON object when given';
  const r: Report = { token: o.token, result: o.result };
  if (o.details !== undefined) r.details = o.details as Record<string, unknown>;
  return r;
}

/** The client's IPv4 address as the socket saw it (an IPv4-mapped IPv6 address unwrapped). */
export function peerIPv4(remote: string | undefined): string | undefined {
  if (!remote) return undefined;
  const v4 = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
  return isIPv4(v4) ? v4 : undefined;
}

/** A running report endpoint. */
export interface ReportServer {
  readonly address: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, a: ReportAnswer): void {
  const text = JSON.stringify(a.body) + '\n';
  res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}

/**
 * Listen on `listen` (HOST:PORT). `handle(ip, report)` is asked only for a POST to /v1/report
 * from an IPv4 peer with a body of at most 64 KB that parses as a report.
 */
export async function startReportServer(listen: string, handle: (ip: string, report: Report) => ReportAnswer): Promise<ReportServer> {
  const { host, port } = parseReportListen(listen);
  // node:http is imported here, not at the top: a daemon without `report` never loads it (its RSS cost is in docs/performance.md)
  const { createServer } = await import('node:http');
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== REPORT_PATH) return send(res, { status: 404, body: { ok: false, error: `not found: POST ${REPORT_PATH}` } });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return send(res, { status: 405, body: { ok: false, error: `expected POST ${REPORT_PATH}` } });
    }
    const ip = peerIPv4(req.socket.remoteAddress);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > REPORT_MAX_BYTES) {
      send(res, { status: 413, body: { ok: false, error: `body over ${REPORT_MAX_BYTES} bytes` } });
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > REPORT_MAX_BYTES) {
        over = true;
        send(res, { status: 413, body: { ok: false, error: `body over ${REPORT_MAX_BYTES} bytes` } });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      if (over) return;
      if (!ip) return send(res, { status: 403, body: { ok: false, error: 'reports are taken from IPv4 nodes only' } });
      const r = parseReport(Buffer.concat(chunks).toString('utf8'));
      if (typeof r === 'string') return send(res, { status: 400, body: { ok: false, error: r } });
      let a: ReportAnswer;
      try {
        a = handle(ip, r);
      } catch (e) {
        a = { status: 500, body: { ok: false, error: `report not taken: ${(e as Error).message}` } };
      }
      send(res, a);
    });
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
