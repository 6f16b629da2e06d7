// Argument parsing shared by every command: node:util parseArgs, with -c/--config on all of them.
// Bad usage becomes a USAGE error, which the entry maps to exit code 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PxeError } from '../errors.ts';

/** The config file used when -c is not given. */
export const DEFAULT_CONFIG = '/etc/pxebootd/pxebootd.yaml';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** A usage mistake (unknown option, missing argument) of `command` when known: exit code 2, that command's usage shown. */
export class UsageError extends PxeError {
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super('USAGE', message);
    this.command = command;
    this.name = 'UsageError';
  }
}

/** A usage mistake: exit code 2. */
export function usageError(message: string, command?: string): UsageError {
  return new UsageError(message, command);
}

/** node:util's parse errors in our words: "unknown option --bogus for check". */
function parseArgsMessage(command: string, e: Error & { code?: string }): string {
  const opt = /'(-[^' ]+)/.exec(e.message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && opt) return `unknown option ${opt} for ${command}`;
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && opt) {
    return /argument missing/.test(e.message) ? `option ${opt} of ${command} needs a value` : `option ${opt} of ${command} takes no value`;
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `${command}: unexpected argument`;
  return `${command}: ${e.message}`;
}

/** Parse a command's arguments; the config path falls back to $PXEBOOTD_CONFIG, then the default. */
export function parseCommand<O extends Options>(command: string, args: string[], options: O, positionals: { min: number; max: number; names: string }) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageError(parseArgsMessage(command, e as Error & { code?: string }), command);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const n = parsed.positionals.length;
  if (!values.help && (n < positionals.min || n > positionals.max)) {
    throw usageError(`${command}: expected ${positionals.names || 'no arguments'}, found ${n === 0 ? 'none' : parsed.positionals.map((p) => JSON.stringify(p)).join(' ')}`, command);
  }
  const config = (values.config as string | undefined) ?? process.env.PXEBOOTD_CONFIG ?? DEFAULT_CONFIG;
  return { values, positionals: parsed.positionals, config };
}
