// `pxebootd run [--dry-run]`: the daemon in the foreground. This module owns the signals:
// SIGTERM/SIGINT stop cleanly (exit 0), SIGHUP reloads rules and templates. Stop always ends the
// process: a stop that has not finished STOP_DEADLINE_MS after the signal (or a second signal)
// logs what it was waiting for, kills every child and exits 1; and since process.exit() itself
// hangs while a thread-pool worker is blocked, the exit is _exit(2) (hard-exit.ts).
import { loadConfig } from '../config/index.ts';
import { createLogger, subsystem } from '../log.ts';
import { createRunner } from '../runner.ts';
import { createDaemon } from '../daemon/daemon.ts';
import { loadRealDeps } from '../daemon/deps.ts';
import { errorMessage } from '../errors.ts';
import { hardExit, hardExitUnavailable } from '../hard-exit.ts';
import { notifyReady } from '../sd-notify.ts';
import { parseCommand } from './args.ts';
import { USAGE } from './usage.ts';

/** From the stop signal to the process's end, at most (the graceful part's bounds fit inside). */
export const STOP_DEADLINE_MS = 4000;
/** After a clean stop, how long the event loop may take to empty before the process leaves anyway. */
const EXIT_AFTER_STOP_MS = 1000;

/** Run until a stop signal; resolves to the exit code. */
export async function runCommand(args: string[]): Promise<number> {
  const { values, config: file } = parseCommand('run', args, { 'dry-run': { type: 'boolean' } }, { min: 0, max: 0, names: '' });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const dryRun = values['dry-run'] === true;
  const config = await loadConfig(file);
  const log = createLogger();
  const runner = createRunner(subsystem(log, 'runner'), { dryRun });
  const deps = await loadRealDeps();
  const daemon = createDaemon({ configFile: file, config, log, runner, deps, dryRun });

  let stopRequested: (sig: string) => void = () => {};
  const stopped = new Promise<string>((r) => (stopRequested = r));
  const onStop = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, `received ${sig}; stopping`);
    stopRequested(sig);
  };
  let reloading = Promise.resolve();
  const onHup = () => {
    log.info({ signal: 'SIGHUP' }, 'received SIGHUP; reloading config');
    reloading = reloading.then(() => daemon.reload().then(() => {}, (e) => log.error({ err: errorMessage(e) }, 'reload failed')));
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);

  try {
    await daemon.start();
  } catch (e) {
    log.fatal({ err: errorMessage(e) }, `start-up failed: ${errorMessage(e)}`);
    await daemon.stop().catch(() => {});
    throw e;
  }
  // Type=notify: `systemctl start` returns once reconciliation is done
  await notifyReady(runner, log);
  await stopped;
  // the deadline runs from the signal: a reload stuck in a read must not hold the stop either
  const deadline = setTimeout(() => exitNow(`stop did not finish within ${STOP_DEADLINE_MS} ms`), STOP_DEADLINE_MS);
  // a second signal while stopping means "now"
  process.removeListener('SIGTERM', onStop);
  process.removeListener('SIGINT', onStop);
  const force = () => exitNow('second stop signal');
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  const hardWhy = hardExitUnavailable();
  if (hardWhy) log.debug(`${hardWhy}; a stop that hangs ends with SIGKILL instead of _exit`);

  function exitNow(why: string, code = 1): never {
    const children = runner.children();
    log.error(
      { waitingFor: daemon.stopStep(), children: children.map((c) => ({ pid: c.pid, cmd: c.command })), resources: process.getActiveResourcesInfo() },
      `${why}${daemon.stopStep() ? ` (still ${daemon.stopStep()})` : ''}; killing ${children.length} child process(es) and exiting`,
    );
    runner.killChildren('SIGKILL');
    hardExit(code);
  }

  await reloading;
  await daemon.stop();
  clearTimeout(deadline);
  process.removeListener('SIGHUP', onHup);
  // a command abandoned with its job (or a watcher's child that did not stop) must not outlive us
  const left = runner.children();
  if (left.length) {
    log.warn({ children: left.map((c) => ({ pid: c.pid, cmd: c.command })) }, `killing ${left.length} child process(es) still running after stop`);
    runner.killChildren('SIGKILL');
  }
  // anything a plug-in left open (a thread-pool read that never returns) must not keep a stopped
  // daemon alive; process.exit() would wait for that read, _exit does not
  setTimeout(() => {
    log.warn({ resources: process.getActiveResourcesInfo() }, `still running ${EXIT_AFTER_STOP_MS} ms after a clean stop; exiting anyway`);
    hardExit(0);
  }, EXIT_AFTER_STOP_MS).unref();
  return 0;
}
