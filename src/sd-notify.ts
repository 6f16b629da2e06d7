// Type=notify support: systemd learns that the daemon is ready (control socket up, start-up
// reconciliation done), so `systemctl start` returns only then and fails when start-up fails.
// Node has no Unix datagram sockets, so systemd-notify(1) sends the message; it names its parent
// (this process, the unit's main PID) as the sender, and the unit also sets NotifyAccess=all.
import type { Logger } from 'pino';
import type { Runner } from './runner.ts';
import { errorMessage } from './errors.ts';

/** Send READY=1 when systemd started us with Type=notify (NOTIFY_SOCKET set); otherwise do nothing. */
export async function notifyReady(runner: Runner, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return false;
  try {
    const r = await runner.run(['systemd-notify', '--ready', '--status=ready'], { allowFailure: true, timeoutMs: 15_000 });
    if (r.exitCode === 0) return true;
    log.warn({ exitCode: r.exitCode, stderr: r.stderr.trim() }, 'systemd-notify --ready failed; systemd will time the start out (Type=notify needs systemd-notify on PATH)');
  } catch (e) {
    log.warn({ err: errorMessage(e) }, 'systemd-notify --ready could not run; systemd will time the start out (Type=notify needs systemd-notify on PATH)');
  }
  return false;
}
