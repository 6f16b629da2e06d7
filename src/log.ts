// One pino logger for the process, with a child per subsystem. Untrusted client data goes under
// the fixed key `input` so that log consumers never confuse it with our own fields.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** defaults to stdout */
  destination?: DestinationStream;
  /** human-readable lines instead of JSON (default: when stdout is a TTY) */
  pretty?: boolean;
}

/** One plain line per record (`pxebootd: warning: …`) for commands a person runs, where JSON would be noise. */
export function humanStream(write: (s: string) => void): DestinationStream {
  return {
    write(line: string) {
      try {
        const o = JSON.parse(line) as { level?: number; msg?: unknown };
        const what = (o.level ?? 30) >= 50 ? 'error: ' : (o.level ?? 30) >= 40 ? 'warning: ' : '';
        write(`pxebootd: ${what}${String(o.msg ?? '')}\n`);
      } catch {
        write(line);
      }
    },
  };
}

function prettyStream(): DestinationStream {
  const names: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
  return {
    write(line: string) {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const { level, time, msg, subsystem, pid: _p, hostname: _h, ...rest } = o;
        const t = new Date(Number(time)).toISOString().slice(11, 23);
        // a message over several lines is already the readable form (a dry-run plan): no JSON tail
        const extra = Object.keys(rest).length && !String(msg ?? '').includes('\n') ? ' ' + JSON.stringify(rest) : '';
        process.stdout.write(`${t} ${names[Number(level)] ?? level} ${subsystem ? `[${String(subsystem)}] ` : ''}${String(msg ?? '')}${extra}\n`);
      } catch {
        process.stdout.write(line);
      }
    },
  };
}

/** The one pino logger the CLI creates; subsystems get children of it. */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.PXEBOOTD_LOG_LEVEL ?? 'info';
  // PXEBOOTD_LOG_FORMAT=pretty|json overrides the terminal check (e.g. pretty logs into a file)
  const format = process.env.PXEBOOTD_LOG_FORMAT;
  const pretty = opts.pretty ?? (format === 'pretty' ? true : format === 'json' ? false : process.stdout.isTTY === true && !opts.destination);
  const dest = opts.destination ?? (pretty ? prettyStream() : pino.destination({ dest: 1, sync: true }));
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.epochTime }, dest);
}

// pino appends a child's bindings to its parent's, so a nested subsystem would repeat the key;
// each subsystem logger therefore remembers the logger it was derived from and re-derives from it.
const parents = new WeakMap<Logger, { base: Logger; bindings: Record<string, unknown> }>();

/** A child logger per subsystem: watcher, queue, provision, exports, state, control, cli. */
export function subsystem(log: Logger, name: string, bindings: Record<string, unknown> = {}): Logger {
  const p = parents.get(log);
  const base = p ? p.base : log;
  const all = { ...(p?.bindings ?? {}), ...bindings };
  const child = base.child({ subsystem: name, ...all });
  parents.set(child, { base, bindings: all });
  return child;
}

/** A logger that drops everything, for unit tests of code that takes one. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
