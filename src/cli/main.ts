// The CLI entry: picks the command, loads its module lazily (so `hook` stays fast), and is the
// only place that maps errors to exit codes: config problems 1, usage 2, anything else 1.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, PxeError, formatProblem } from '../errors.ts';
import { COMMAND_USAGE, USAGE } from './usage.ts';
import { UsageError } from './args.ts';
import { DNSMASQ_ACTIONS } from './hook-command.ts';

/** Read the version from package.json, whether running from src/ or dist/src/. */
export function readVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pxebootd' && pkg.version) return pkg.version;
    } catch {
      /* try the next location */
    }
  }
  return 'unknown';
}

async function dispatch(cmd: string, rest: string[]): Promise<number> {
  switch (cmd) {
    case 'hook':
      return (await import('./hook-command.ts')).hookCommand(rest);
    case 'run':
      return (await import('./run-command.ts')).runCommand(rest);
    case 'check':
      return (await import('./check-command.ts')).checkCommand(rest);
    case 'status':
      return (await import('./status-command.ts')).statusCommand(rest);
    case 'explain':
      return (await import('./explain-command.ts')).explainCommand(rest);
    case 'provision':
      return (await import('./node-commands.ts')).provisionCommand(rest);
    case 'release':
      return (await import('./node-commands.ts')).releaseCommand(rest);
    case 'boot-once':
      return (await import('./boot-once-command.ts')).bootOnceCommand(rest);
    case 'import-legacy':
      return (await import('./import-legacy-command.ts')).importLegacyCommand(rest);
    case 'image':
      return (await import('./image-command.ts')).imageCommand(rest);
    default:
      throw new PxeError('USAGE', `unknown command ${JSON.stringify(cmd)}`);
  }
}

/** Print an error the way a user can act on it, and return the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof ConfigError) {
    for (const p of e.problems) process.stderr.write(formatProblem(p) + '\n');
    process.stderr.write(`pxebootd: ${e.problems.length} config problem${e.problems.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  if (e instanceof PxeError && e.code === 'USAGE') {
    const own = e instanceof UsageError && e.command !== undefined ? COMMAND_USAGE[e.command] : undefined;
    process.stderr.write(`pxebootd: ${e.message}\n${own ? `\n${own}` : 'Run "pxebootd --help" for usage.\n'}`);
    return 2;
  }
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`pxebootd: ${msg}\n`);
  if (process.env.PXEBOOTD_DEBUG && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
  return 1;
}

/**
 * `pxebootd CMD --help` (or -h) shows that command's usage. For `hook` only a first argument counts:
 * what follows the action is dnsmasq's data (a hostname may be anything) and goes to the daemon.
 */
export function wantsHelp(cmd: string, rest: string[]): boolean {
  if (COMMAND_USAGE[cmd] === undefined) return false;
  const isHelp = (a: string | undefined) => a === '--help' || a === '-h';
  if (cmd === 'hook') return isHelp(rest[0]);
  const end = rest.indexOf('--');
  return (end < 0 ? rest : rest.slice(0, end)).some(isHelp);
}

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    (cmd === undefined ? process.stderr : process.stdout).write(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '-V' || cmd === '--version' || cmd === 'version') {
    process.stdout.write(`pxebootd ${readVersion()}\n`);
    return 0;
  }
  if (wantsHelp(cmd, rest)) {
    process.stdout.write(COMMAND_USAGE[cmd]!);
    return 0;
  }
  try {
    if (cmd === 'hook' && rest.length === 0) throw new UsageError('hook: expected an action (add, old, del, tftp) and its arguments', 'hook');
    // dnsmasq calls the script as `SCRIPT add MAC IP [HOST]`: accept that directly too
    if (DNSMASQ_ACTIONS.includes(cmd)) return await dispatch('hook', argv);
    return await dispatch(cmd, rest);
  } catch (e) {
    return reportError(e);
  }
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}
