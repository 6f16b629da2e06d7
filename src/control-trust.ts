// Who may own, serve and use the control socket. The daemon refuses a socket directory that
// another user could create the socket in (or rename it out of), so nobody can squat the path
// before it starts; the CLI checks the same directory, the socket file's owner and (SO_PEERCRED,
// through the peercred addon) the uid of the process that answers, before it sends anything; the
// daemon takes hook/provision/release only from root or its own uid.
import { lstat, realpath, stat } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { PxeError } from './errors.ts';
import { loadAddon } from './native.ts';

/** The process at the other end of a Unix socket, as the kernel recorded it at connect/listen. */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

interface PeerCredAddon {
  peercred(fd: number): PeerCred;
}

/** Why the socket is refused; the CLI and the daemon print it as is. */
export class UntrustedSocketError extends PxeError {
  constructor(message: string) {
    super('CONFIG', message);
    this.name = 'UntrustedSocketError';
  }
}

/** The uids trusted to own the socket's directory, serve it and send mutating requests: root and our own. */
export function trustedUids(): ReadonlySet<number> {
  return new Set([0, process.geteuid?.() ?? 0]);
}

function describeTrusted(trusted: ReadonlySet<number>): string {
  const others = [...trusted].filter((u) => u !== 0);
  return others.length ? `root or uid ${others.join(', ')}` : 'root';
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * Refuse a socket directory that another user could create or replace the socket in: the
 * directory (after symlinks) must be owned by a trusted uid and not writable by group or others;
 * each ancestor must be owned by a trusted uid and be either not writable by group/others or
 * sticky (like /tmp, where nobody can rename another user's entry). Other fs errors (ENOENT)
 * propagate as they are.
 */
export async function checkSocketDir(dir: string, trusted: ReadonlySet<number> = trustedUids()): Promise<void> {
  const real = await realpath(dir);
  const shown = real === path.resolve(dir) ? dir : `${dir} (${real})`;
  const fix = `Put control_socket in a directory owned by ${describeTrusted(trusted)} with no group/other write permission, such as /run/pxebootd (the default)`;
  const st = await stat(real);
  if (!st.isDirectory()) throw new UntrustedSocketError(`control socket directory ${shown} is not a directory`);
  if (!trusted.has(st.uid)) {
    throw new UntrustedSocketError(`control socket directory ${shown} is owned by uid ${st.uid}, not ${describeTrusted(trusted)}: that user could create or replace the socket. Fix: chown root ${real} && chmod go-w ${real}, or: ${fix}`);
  }
  if (st.mode & 0o022) {
    throw new UntrustedSocketError(`control socket directory ${shown} is writable by group or others (mode ${octal(st.mode)}): another user could create the socket first or replace it. Fix: chmod go-w ${real}, or: ${fix}`);
  }
  for (let d = path.dirname(real); ; d = path.dirname(d)) {
    const a = await stat(d);
    if (!trusted.has(a.uid)) {
      throw new UntrustedSocketError(`control socket directory ${shown}: its parent ${d} is owned by uid ${a.uid}, not ${describeTrusted(trusted)}: that user could replace the whole directory. ${fix}`);
    }
    if (a.mode & 0o022 && !(a.mode & 0o1000)) {
      throw new UntrustedSocketError(`control socket directory ${shown}: its parent ${d} is writable by group or others without the sticky bit (mode ${octal(a.mode)}): another user could replace the whole directory. Fix: chmod go-w ${d}, or: ${fix}`);
    }
    if (d === '/') break;
  }
}

/** The owner of the socket file itself (the CLI refuses one created by another user). */
export async function checkSocketOwner(socketPath: string, trusted: ReadonlySet<number> = trustedUids()): Promise<void> {
  const st = await lstat(socketPath);
  if (!trusted.has(st.uid)) {
    throw new UntrustedSocketError(`control socket ${socketPath} belongs to uid ${st.uid}, not ${describeTrusted(trusted)}: it is not pxebootd's (another user may have created it); not sending anything to it. Stop that process and remove the file, and keep the socket in a root-only directory`);
  }
}

/** The addon, or why peer credentials cannot be read. */
function addon(): PeerCredAddon | string {
  const a = loadAddon<PeerCredAddon>('peercred', 'SO_PEERCRED (control socket peer check)');
  return 'mod' in a ? a.mod : a.why;
}

/** Why peer credentials cannot be checked in this installation, or undefined when they can. */
export function peerCredUnavailable(): string | undefined {
  const a = addon();
  return typeof a === 'string' ? a : undefined;
}

/** The connected socket's peer, or why it is unknown (addon missing, no descriptor). */
export function peerCredOf(sock: net.Socket): PeerCred | { why: string } {
  const a = addon();
  if (typeof a === 'string') return { why: a };
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return { why: 'the socket has no file descriptor' };
  try {
    return a.peercred(fd);
  } catch (e) {
    return { why: (e as Error).message };
  }
}

let debugSaid = false;

/**
 * Client side, right after connect and before anything is sent: refuse a server whose uid is not
 * trusted. Without the addon only the directory/owner checks stand (said once with PXEBOOTD_DEBUG).
 */
export function checkServerPeer(sock: net.Socket, socketPath: string, op: string, trusted: ReadonlySet<number> = trustedUids()): void {
  const peer = peerCredOf(sock);
  if ('why' in peer) {
    if (process.env.PXEBOOTD_DEBUG && !debugSaid) {
      debugSaid = true;
      process.stderr.write(`pxebootd: debug: cannot check the control socket's server uid (${peer.why}); relying on the socket directory's owner and mode\n`);
    }
    return;
  }
  if (!trusted.has(peer.uid)) {
    throw new UntrustedSocketError(`control socket ${socketPath} is served by uid ${peer.uid} (pid ${peer.pid}), not ${describeTrusted(trusted)}: it is not pxebootd; not sending "${op}" to it. Another user may be squatting the socket path`);
  }
}

/** Requests that change nodes, taken only from a trusted uid. */
export const MUTATING_OPS: ReadonlySet<string> = new Set(['hook', 'provision', 'release', 'release-all']);
/** Requests anyone who can reach the socket may make; every other op (a new one too) needs a trusted uid. */
export const READ_ONLY_OPS: ReadonlySet<string> = new Set(['ping', 'status']);

/** Daemon side: why `op` from `peer` is refused, or undefined when it may go ahead. */
export function refusePeer(op: string, peer: PeerCred | undefined, trusted: ReadonlySet<number> = trustedUids()): string | undefined {
  if (READ_ONLY_OPS.has(op) || peer === undefined || trusted.has(peer.uid)) return undefined;
  return `${op}: refused: the client runs as uid ${peer.uid} (pid ${peer.pid}); only ${describeTrusted(trusted)} may send hook, provision or release`;
}
