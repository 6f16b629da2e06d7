// `pxebootd run [--dry-run]`: the daemon in the foreground. This module owns the signals:
// SIGTERM/SIGINT stop cleanly (exit 0), SIGHUP reloads rules and templates.
import { loadConfig } from '../config/index.ts';
import { createLogger, subsystem } from '../log.ts';
import { createRunner } from '../runner.ts';
import { createDaemon } from '../daemon/daemon.ts';
import { loadRealDeps } from '../daemon/deps.ts';
import { errorMessage } from '../errors.ts';
import { parseCommand } from './args.ts';
import { USAGE } from './usage.ts';

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
  await stopped;
  // a second signal while stopping means "now": give up waiting for running jobs
  process.removeListener('SIGTERM', onStop);
  process.removeListener('SIGINT', onStop);
  const force = () => {
    log.warn('second stop signal; exiting without waiting');
    process.exit(1);
  };
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  await reloading;
  await daemon.stop();
  process.removeListener('SIGHUP', onHup);
  // anything a plug-in left open must not keep a stopped daemon alive
  setTimeout(() => process.exit(0), 1000).unref();
  return 0;
}
