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

/** A usage mistake (unknown option, missing argument): exit code 2. */
export function usageError(message: string): PxeError {
  return new PxeError('USAGE', message);
}

/** Parse a command's arguments; the config path falls back to $PXEBOOTD_CONFIG, then the default. */
export function parseCommand<O extends Options>(command: string, args: string[], options: O, positionals: { min: number; max: number; names: string }) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageError(`${command}: ${(e as Error).message}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const n = parsed.positionals.length;
  if (!values.help && (n < positionals.min || n > positionals.max)) {
    throw usageError(`${command}: expected ${positionals.names || 'no arguments'}, found ${n === 0 ? 'none' : parsed.positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  }
  const config = (values.config as string | undefined) ?? process.env.PXEBOOTD_CONFIG ?? DEFAULT_CONFIG;
  return { values, positionals: parsed.positionals, config };
}
