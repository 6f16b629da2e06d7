// The daemon's local control socket: newline-delimited JSON, one response line per request line.
// The server refuses to start while another daemon answers on the path, and replaces a stale
// socket. The client side is tiny and imports nothing heavy, so `pxebootd hook` starts fast.
// Both sides check who owns the socket's directory and who is at the other end (control-trust.ts).
import net from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { PxeError } from './errors.ts';
import { checkServerPeer, checkSocketDir, checkSocketOwner, peerCredOf, UntrustedSocketError, type PeerCred } from './control-trust.ts';

/** A request line: `op` picks the handler; the rest is op-specific. */
export interface ControlRequest {
  op: string;
  [k: string]: unknown;
}

/** A response line: `ok` false carries `error`. */
export interface ControlResponse {
  ok: boolean;
  error?: string;
  [k: string]: unknown;
}

/** Longest request line accepted (hook env blocks are a few KB). */
export const MAX_LINE = 1 << 20;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Thrown by the client when nothing answers on the socket (no daemon running). */
export class NoDaemonError extends PxeError {
  constructor(socketPath: string, why: string) {
    super('RUN', `no pxebootd answers on ${socketPath} (${why})`);
    this.name = 'NoDaemonError';
  }
}

/**
 * Bind the socket (dir 0755, socket 0600) in a directory only root (or our uid) can write;
 * `handle` answers each request, told the client's credentials when SO_PEERCRED is available.
 */
export async function startControlServer(socketPath: string, handle: (req: ControlRequest, peer?: PeerCred) => Promise<ControlResponse>): Promise<ControlServer> {
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  await checkSocketDir(path.dirname(socketPath));
  await clearStaleSocket(socketPath);
  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => sock.destroy());
    const p = peerCredOf(sock);
    const peer = 'why' in p ? undefined : p;
    serveConnection(sock, (req) => handle(req, peer));
  });
  // the socket is created inside listen(), synchronously: a tight umask for just that call means
  // it never exists with wider permissions, and nothing else in the process sees the umask
  const oldMask = process.umask(0o177);
  let listening: Promise<void>;
  try {
    listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  await listening;
  await chmod(socketPath, 0o600);
  return {
    path: socketPath,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of conns) c.end();
        setTimeout(() => conns.forEach((c) => c.destroy()), 500).unref();
      });
      await unlink(socketPath).catch(() => {});
    },
  };
}

function serveConnection(sock: net.Socket, handle: (req: ControlRequest) => Promise<ControlResponse>): void {
  let buf = '';
  let chain = Promise.resolve();
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE && !buf.includes('\n')) {
      sock.end(JSON.stringify({ ok: false, error: `request longer than ${MAX_LINE} bytes` }) + '\n');
      buf = '';
      return;
    }
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === '') continue;
      // requests on one connection are answered in order
      chain = chain.then(async () => {
        const resp = await answer(line, handle);
        if (!sock.destroyed) await writeResponse(sock, resp);
      });
    }
  });
}

/** Nodes serialised per socket write in a large answer. */
const NODES_PER_WRITE = 200;

/** Where a streamed answer keeps its body (a symbol: never part of the JSON head). */
const BODY = Symbol('control.body');

/**
 * An answer too large for one line: the `head` line, then the `body` pieces as they are produced,
 * each written once the socket has drained the one before; the connection ends after the body, so
 * a streamed answer is the last one on its connection. The body marks its own end (the client
 * cannot tell a finished body from a daemon that died mid-way otherwise).
 */
export function streamedResponse(head: ControlResponse, body: Iterable<string>): ControlResponse {
  return Object.assign({ ...head }, { [BODY]: body });
}

/**
 * Write one answer line. A `nodes` list (status at 10,000 nodes is several MB) goes out in pieces,
 * waiting for the socket to drain, so that no multi-megabyte string or buffer is ever built (it
 * would stay in the daemon's RSS after the call; docs/performance.md). Same bytes as
 * JSON.stringify(resp) + '\n' with `nodes` as the last member. A streamed answer (streamedResponse)
 * is its head line and then its body.
 */
async function writeResponse(sock: net.Socket, resp: ControlResponse): Promise<void> {
  if (sock.writableEnded) return;
  const body = (resp as { [BODY]?: Iterable<string> })[BODY];
  if (body) return writeStreamed(sock, resp, body);
  const { nodes, ...head } = resp;
  if (!Array.isArray(nodes) || nodes.length <= NODES_PER_WRITE) {
    sock.write(JSON.stringify(resp) + '\n');
    return;
  }
  const open = JSON.stringify(head);
  sock.write(`${open.slice(0, -1)}${open === '{}' ? '' : ','}"nodes":[`);
  for (let i = 0; i < nodes.length && !sock.destroyed; i += NODES_PER_WRITE) {
    const part = nodes.slice(i, i + NODES_PER_WRITE).map((n) => JSON.stringify(n) ?? 'null');
    if (!sock.write((i ? ',' : '') + part.join(','))) await drained(sock);
  }
  if (!sock.destroyed) sock.write(']}\n');
}

/** The head line, then each body piece once the socket drained the last; then end the connection. */
async function writeStreamed(sock: net.Socket, head: ControlResponse, body: Iterable<string>): Promise<void> {
  try {
    sock.write(JSON.stringify(head) + '\n');
    for (const piece of body) {
      if (sock.destroyed) break;
      if (!sock.write(piece)) await drained(sock);
    }
    if (!sock.destroyed) sock.end();
  } catch {
    // a body that fails to serialise must not leave a half answer that looks whole
    sock.destroy();
  }
}

function drained(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

async function answer(line: string, handle: (req: ControlRequest) => Promise<ControlResponse>): Promise<ControlResponse> {
  let req: ControlRequest;
  try {
    req = JSON.parse(line) as ControlRequest;
    if (!req || typeof req !== 'object' || typeof req.op !== 'string') throw new Error('expected an object with a string "op"');
  } catch (e) {
    return { ok: false, error: `bad request: ${(e as Error).message}` };
  }
  try {
    return await handle(req);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** Remove a socket nobody answers on; refuse when a daemon answers or the path is not a socket. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  let st;
  try {
    st = await lstat(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) throw new PxeError('CONFLICT', `control_socket ${socketPath} exists and is not a socket; refusing to replace it`);
  try {
    await sendControl(socketPath, { op: 'ping' }, { connectTimeoutMs: 500, timeoutMs: 1000 });
  } catch (e) {
    if (e instanceof NoDaemonError) {
      await unlink(socketPath).catch(() => {});
      return;
    }
    if (e instanceof UntrustedSocketError) throw new PxeError('CONFLICT', `refusing to start: ${e.message}`);
    // it accepted the connection but did not answer sensibly: someone is there, leave it alone
  }
  throw new PxeError('CONFLICT', `another pxebootd is already running on ${socketPath}`);
}

export interface SendOptions {
  /** give up connecting after this long (default 200 ms) */
  connectTimeoutMs?: number;
  /** give up waiting for the answer after this long (default 10 s) */
  timeoutMs?: number;
}

/**
 * Client side, before connecting: the socket's directory and the socket file must belong to root
 * (or our uid), else UntrustedSocketError; NoDaemonError when there is no socket.
 */
async function verifySocketPath(socketPath: string): Promise<void> {
  try {
    await checkSocketDir(path.dirname(socketPath));
    await checkSocketOwner(socketPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new NoDaemonError(socketPath, code);
    if (code === 'EACCES') throw new PxeError('RUN', `control socket ${socketPath}: permission denied (the socket is root-only; run as root)`);
    throw e;
  }
}

/**
 * Send one request, wait for its one-line answer. NoDaemonError when nothing listens;
 * UntrustedSocketError (nothing sent) when the socket or the process serving it is not root's.
 */
export async function sendControl(socketPath: string, req: ControlRequest, opts: SendOptions = {}): Promise<ControlResponse> {
  await verifySocketPath(socketPath);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 200;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let connected = false;
    let answered = false;
    const parts: string[] = [];
    const sock = net.createConnection(socketPath);
    const fail = (e: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    let timer = setTimeout(() => fail(new NoDaemonError(socketPath, `no connection within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      connected = true;
      clearTimeout(timer);
      try {
        checkServerPeer(sock, socketPath, req.op);
      } catch (e) {
        fail(e as Error);
        return;
      }
      timer = setTimeout(() => fail(new PxeError('RUN', `pxebootd on ${socketPath} did not answer "${req.op}" within ${timeoutMs} ms`)), timeoutMs);
      sock.write(JSON.stringify(req) + '\n');
    });
    // a status answer can be megabytes: look for the end only in each new chunk
    sock.on('data', (chunk: string) => {
      if (answered) return;
      const nl = chunk.indexOf('\n');
      if (nl < 0) {
        parts.push(chunk);
        return;
      }
      parts.push(chunk.slice(0, nl));
      answered = true;
      clearTimeout(timer);
      sock.end();
      try {
        resolve(JSON.parse(parts.join('')) as ControlResponse);
      } catch (e) {
        reject(new PxeError('RUN', `bad answer from ${socketPath}: ${(e as Error).message}`));
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (!connected && (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ENOTSOCK')) fail(new NoDaemonError(socketPath, e.code));
      else if (e.code === 'EACCES') fail(new PxeError('RUN', `control socket ${socketPath}: permission denied (the socket is root-only; run as root)`));
      else fail(new PxeError('RUN', `control socket ${socketPath}: ${e.message}`));
    });
    sock.on('close', () => {
      if (!answered) fail(new PxeError('RUN', `pxebootd on ${socketPath} closed the connection without answering`));
    });
  });
}

/** An answer read as a stream: its head line, and for a streamed answer the body's raw bytes. */
export interface ControlStream {
  head: ControlResponse;
  /** present when the head says `stream`: the bytes after the head line, until the daemon ends the connection */
  body?: AsyncIterable<Buffer>;
}

/**
 * Send one request and read the answer's head line; when the head says `stream`, the body follows
 * as raw chunks, read only as fast as the caller takes them (nothing is gathered here). `timeoutMs`
 * bounds each wait for data, not the whole body. NoDaemonError when nothing listens.
 */
export async function openControlStream(socketPath: string, req: ControlRequest, opts: SendOptions = {}): Promise<ControlStream> {
  await verifySocketPath(socketPath);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 200;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const sock = net.createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new NoDaemonError(socketPath, `no connection within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.off('error', onError);
      try {
        checkServerPeer(sock, socketPath, req.op);
      } catch (e) {
        sock.destroy();
        reject(e);
        return;
      }
      resolve();
    });
    const onError = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ENOTSOCK') reject(new NoDaemonError(socketPath, e.code));
      else if (e.code === 'EACCES') reject(new PxeError('RUN', `control socket ${socketPath}: permission denied (the socket is root-only; run as root)`));
      else reject(new PxeError('RUN', `control socket ${socketPath}: ${e.message}`));
    };
    sock.once('error', onError);
  });
  sock.setTimeout(timeoutMs, () => sock.destroy(new PxeError('RUN', `pxebootd on ${socketPath} sent nothing on "${req.op}" for ${timeoutMs} ms`)));
  sock.write(JSON.stringify(req) + '\n');
  const it = sock[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const parts: Buffer[] = [];
  let rest: Buffer;
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) throw new PxeError('RUN', `pxebootd on ${socketPath} closed the connection without answering`);
      const nl = r.value.indexOf(10);
      if (nl < 0) {
        parts.push(r.value);
        continue;
      }
      parts.push(r.value.subarray(0, nl));
      rest = r.value.subarray(nl + 1);
      break;
    }
  } catch (e) {
    sock.destroy();
    if (e instanceof PxeError) throw e;
    throw new PxeError('RUN', `control socket ${socketPath}: ${(e as Error).message}`);
  }
  let head: ControlResponse;
  try {
    head = JSON.parse(Buffer.concat(parts).toString('utf8')) as ControlResponse;
  } catch (e) {
    sock.destroy();
    throw new PxeError('RUN', `bad answer from ${socketPath}: ${(e as Error).message}`);
  }
  if (!head.stream) {
    sock.destroy();
    return { head };
  }
  async function* body(): AsyncGenerator<Buffer> {
    try {
      if (rest.length) yield rest;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      sock.destroy();
    }
  }
  return { head, body: body() };
}
