// Test helper: a real tftpd-hpa (in.tftpd) logging through a real syslog daemon to a file, inside a
// network namespace and a private mount namespace with a private tmpfs /dev, so the /dev/log socket
// the two share never appears on the host (reference/e2e-lab.md §2b). Plus a TFTP client helper.
//
// API
//   const t = await startTftpd({ netns, root, address, dir, port?, syslog?, format? });
//     netns    namespace to run in (e.g. makeNetnsPair('pxc').srv)
//     root     TFTP root; chmod'ed 0755 (in.tftpd --secure chroots there, then runs as user tftp)
//     address  IPv4 to listen on inside netns (e.g. pair.srvIp); port defaults to 69
//     dir      a temp dir of yours (tempDir()): rsyslog.conf, pid file, work dir and the log go here
//     syslog   'rsyslog' (default) | 'busybox' (busybox syslogd -n -S -O FILE)
//     format   rsyslog template: 'rfc3339' (RSYSLOG_FileFormat, Debian 12 default, default here)
//              | 'traditional' (RSYSLOG_TraditionalFileFormat: "Nov 22 03:33:13 host prog[pid]: msg")
//   -> TftpdLab {
//        syslogFile   the file the syslog daemon writes (may not exist until the first line)
//        pid          in.tftpd's PID (also the target for `nsenter -t pid -m` into the private /dev)
//        syslogPid    rsyslogd's / syslogd's PID
//        inject(tag, message, pid?)  `logger -t tag` through the SAME /dev/log (nsenter -m); resolves
//                     once logger has exited (the line may still take a few ms to reach the file)
//        reopen()     SIGHUP the syslog daemon (rsyslog closes and reopens its files: use after mv)
//        stop()       SIGTERM in.tftpd + the syslog daemon; also done at cleanup. Only one in.tftpd
//                     can hold address:port: stop() one before starting the next on the same address
//      }
//   setClientAddress(netns, ifname, cidr)   e.g. (pair.cli, pair.cliIf, '10.99.0.2/24'): the pair's
//                     client end has no address until you give it one
//   tftpGet(netns, server, file, { port?, client?: 'busybox'|'tftp', timeoutMs? })
//     -> { ok, data?: Buffer, error?: string }   fetch one file from inside `netns` (client namespace)
// Cleanup is registered through test/helpers/lab.ts (startDaemon/onCleanup); end test files with
// `after(cleanupAll)`. Only the PIDs started here are ever signalled.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onCleanup, requireTool, startDaemon, waitFor, type Daemon } from './lab.ts';

export interface StartTftpdOptions {
  netns: string;
  root: string;
  address: string;
  dir: string;
  port?: number;
  syslog?: 'rsyslog' | 'busybox';
  format?: 'rfc3339' | 'traditional';
}

export interface TftpdLab {
  syslogFile: string;
  pid: number;
  syslogPid: number;
  daemon: Daemon;
  inject(tag: string, message: string, pid?: number): Promise<void>;
  reopen(): void;
  stop(): Promise<void>;
}

const SETUP_DEV = [
  'mount -t tmpfs -o mode=755 pxtdev /dev',
  'mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5',
  'mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9',
].join('\n');

/** Start syslog + in.tftpd in `netns`; resolves once both run and a probe line reached the file. */
export async function startTftpd(o: StartTftpdOptions): Promise<TftpdLab> {
  requireTool('in.tftpd');
  requireTool('unshare');
  requireTool('nsenter');
  requireTool('logger');
  const kind = o.syslog ?? 'rsyslog';
  requireTool(kind === 'rsyslog' ? 'rsyslogd' : 'busybox');
  const port = o.port ?? 69;
  chmodSync(o.root, 0o755);
  const work = path.join(o.dir, 'syslog-work');
  mkdirSync(work, { recursive: true });
  const syslogFile = path.join(o.dir, 'syslog.log');
  let startSyslog: string;
  if (kind === 'rsyslog') {
    const template = o.format === 'traditional' ? 'RSYSLOG_TraditionalFileFormat' : 'RSYSLOG_FileFormat';
    const conf = path.join(o.dir, 'rsyslog.conf');
    writeFileSync(
      conf,
      `global(workDirectory="${work}")\n` +
        `module(load="imuxsock" SysSock.Name="/dev/log" SysSock.Unlink="on" SysSock.RateLimit.Interval="0")\n` +
        `*.* action(type="omfile" file="${syslogFile}" template="${template}")\n`,
    );
    startSyslog = `rsyslogd -n -f '${conf}' -i '${path.join(o.dir, 'rsyslogd.pid')}' &`;
  } else {
    startSyslog = `busybox syslogd -n -S -O '${syslogFile}' &`;
  }
  const script = [
    SETUP_DEV,
    startSyslog,
    'echo "syslog pid $!"',
    'i=0; while [ ! -S /dev/log ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done',
    'echo "in.tftpd pid $$"',
    `exec in.tftpd -L -v -v -v --secure --address ${o.address}:${port} -u tftp '${o.root}'`,
  ].join('\n');
  const logFile = path.join(o.dir, 'tftpd-lab.out');
  const daemon = startDaemon('in.tftpd+syslog', ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script], {
    netns: o.netns,
    logFile,
  });
  const pids = await waitFor(
    'in.tftpd and syslog to start',
    () => {
      const out = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      const s = /syslog pid (\d+)/.exec(out);
      const t = /in\.tftpd pid (\d+)/.exec(out);
      if (daemon.child.exitCode !== null) {
        // the shell that was to become in.tftpd is gone; its syslog daemon may still run
        const orphan = s ? Number(s[1]) : undefined;
        try {
          if (orphan && readFileSync(`/proc/${orphan}/cmdline`, 'utf8').includes(o.dir)) process.kill(orphan, 'SIGTERM');
        } catch {
          /* gone */
        }
        throw new Error(`in.tftpd lab exited (address ${o.address}:${port} in use?): ${out}`);
      }
      return s && t ? { syslogPid: Number(s[1]), pid: Number(t[1]) } : undefined;
    },
    10_000,
  );
  // the syslog daemon is a child of the shell that became in.tftpd: if in.tftpd dies it is
  // re-parented and the process-group kill of startDaemon no longer reaches it, so it is
  // stopped by its own PID (after checking it is still the process we started)
  const killSyslog = () => {
    try {
      if (readFileSync(`/proc/${pids.syslogPid}/cmdline`, 'utf8').includes(o.dir)) process.kill(pids.syslogPid, 'SIGTERM');
    } catch {
      /* gone */
    }
  };
  onCleanup(`syslog daemon pid ${pids.syslogPid}`, killSyslog);
  const failIfDead = () => {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      killSyslog();
      throw new Error(`in.tftpd exited early (address ${o.address}:${port} in use?): ${readFileSync(logFile, 'utf8')}`);
    }
  };
  const inject = async (tag: string, message: string, pid?: number) => {
    const args = ['-t', String(pids.pid), '-m', 'logger', '-t', tag];
    if (pid !== undefined) args.push(`--id=${pid}`);
    args.push('-p', 'daemon.notice', '--', message);
    execFileSync('nsenter', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  };
  // a probe proves the whole syslog path works before the test relies on it
  const probe = `pxc-tftpd-probe-${process.pid}-${Date.now()}`;
  await waitFor(
    'the syslog daemon to write a probe line',
    async () => {
      failIfDead();
      await inject('pxc-probe', probe);
      return existsSync(syslogFile) && readFileSync(syslogFile, 'utf8').includes(probe);
    },
    10_000,
    200,
  );
  await waitFor('in.tftpd to listen', () => (failIfDead(), listening(o.netns, o.address, port)), 10_000, 50);
  return {
    syslogFile,
    pid: pids.pid,
    syslogPid: pids.syslogPid,
    daemon,
    inject,
    reopen() {
      process.kill(pids.syslogPid, 'SIGHUP');
    },
    async stop() {
      await daemon.stop();
      killSyslog();
    },
  };
}

function listening(netns: string, address: string, port: number): boolean {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'ss', '-Hlun'], { encoding: 'utf8' });
  return out.split('\n').some((l) => l.includes(`${address}:${port}`));
}

export interface TftpGetResult {
  ok: boolean;
  data?: Buffer;
  error?: string;
}

/** Give the client end of a netns pair an address (makeNetnsPair leaves it without one). */
export function setClientAddress(netns: string, ifname: string, cidr: string): void {
  execFileSync('ip', ['-n', netns, 'addr', 'add', cidr, 'dev', ifname], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Fetch `file` from `server` with a real TFTP client run inside `netns`. Never throws on a TFTP error. */
export function tftpGet(
  netns: string,
  server: string,
  file: string,
  opts: { port?: number; client?: 'busybox' | 'tftp'; timeoutMs?: number } = {},
): TftpGetResult {
  const client = opts.client ?? 'busybox';
  requireTool(client === 'busybox' ? 'busybox' : 'tftp');
  const port = String(opts.port ?? 69);
  const local = path.join(tmpdir(), `pxc-tftp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const argv =
    client === 'busybox'
      ? ['busybox', 'tftp', '-g', '-r', file, '-l', local, server, port]
      : ['tftp', '-m', 'binary', server, port, '-c', 'get', file, local];
  try {
    const out = execFileSync('ip', ['netns', 'exec', netns, ...argv], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 10_000,
    });
    // tftp-hpa exits 0 even on a TFTP error and leaves an empty file; it prints the error
    if (client === 'tftp' && (/Error code|timed out/.test(out) || !existsSync(local))) return { ok: false, error: out.trim() || 'no file' };
    return { ok: true, data: readFileSync(local) };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { ok: false, error: (err.stderr || err.message).trim() };
  } finally {
    rmSync(local, { force: true });
  }
}
