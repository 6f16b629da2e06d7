// The syslog ingestion path, minus the file: bytes in, lines out, untrusted programs dropped by
// their tag before any regex, trusted lines turned into events. The watcher and the benchmark
// (`createLineProcessor(ctx).push(buffer)`) run exactly this code.
import type { WatcherContext } from '../../src/contracts.ts';
import { printable } from '../../src/validate.ts';
import { eventFromMessage } from './log-events.ts';
import { newSyslogFormat, parseSyslogLine, readProgramTag } from './syslog-line.ts';

/** Longest line kept; longer ones are reported and skipped up to their newline. */
export const MAX_LINE_BYTES = 64 * 1024;

/** Counters for the benchmark and for tests. */
export interface LineStats {
  lines: number;
  trusted: number;
  events: number;
  bad: number;
}

/** The byte-to-event pipeline of one syslog source. */
export interface LineProcessor {
  /** feed raw bytes (or text); complete lines are processed, a trailing partial line is kept */
  push(chunk: Buffer | string): void;
  /** drop a kept partial line (file rotated/truncated under it), reporting it as bad input */
  discardPartial(why: string): void;
  /** restart line numbering (a new file) */
  resetLineNumbers(): void;
  readonly stats: LineStats;
}

/** The trusted program tags of a syslog source: its own `programs`, else config.trusted_programs. */
export function trustedPrograms(ctx: Pick<WatcherContext, 'config' | 'source'>): Set<string> {
  const own = ctx.source.type === 'syslog' ? ctx.source.programs : undefined;
  return new Set(own && own.length ? own : ctx.config.trusted_programs);
}

/** Build the line pipeline for one syslog source; events and bad input go to ctx.sink. */
export function createLineProcessor(ctx: Pick<WatcherContext, 'config' | 'source' | 'sink'>): LineProcessor {
  const programs = trustedPrograms(ctx);
  const source = `syslog:${'path' in ctx.source ? ctx.source.path : '?'}`;
  const opts = { source, sourceType: 'syslog' as const, tftpRoot: ctx.config.tftp_root };
  const stats: LineStats = { lines: 0, trusted: 0, events: 0, bad: 0 };
  let partial: Buffer | undefined;
  let skipping = false; // inside an over-long line, until its newline
  let lineNo = 0;
  // what this source's lines show about its format, or what the config declares (syslog-line.ts)
  const format = newSyslogFormat(ctx.source.type === 'syslog' ? ctx.source.format : undefined);

  const reportBad = (reason: string, sample: string) => {
    stats.bad++;
    ctx.sink.bad({ source, line: lineNo, reason, sample: printable(sample) });
  };

  const handleLine = (line: string) => {
    lineNo++;
    stats.lines++;
    const program = readProgramTag(line, format);
    if (program === undefined || !programs.has(program)) return;
    stats.trusted++;
    const parsed = parseSyslogLine(line, undefined, format);
    if (!parsed) return;
    const r = eventFromMessage(parsed.program, parsed.message, opts);
    if (r.bad) {
      stats.bad++;
      ctx.sink.bad({ ...r.bad, line: lineNo });
    }
    if (r.event) {
      stats.events++;
      ctx.sink.event(r.event);
    }
  };

  const handleText = (text: string) => {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      if (nl > start) handleLine(text.charCodeAt(nl - 1) === 13 ? text.slice(start, nl - 1) : text.slice(start, nl));
      else lineNo++;
      start = nl + 1;
    }
  };

  return {
    stats,
    push(chunk) {
      let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      if (skipping) {
        const nl = buf.indexOf(10);
        if (nl === -1) return;
        skipping = false;
        buf = buf.subarray(nl + 1);
      }
      const last = buf.lastIndexOf(10);
      if (last === -1) {
        partial = partial ? Buffer.concat([partial, buf]) : buf;
      } else {
        let head = buf.subarray(0, last + 1);
        if (partial) {
          head = Buffer.concat([partial, head]);
          partial = undefined;
        }
        handleText(head.toString('utf8'));
        const tail = buf.subarray(last + 1);
        partial = tail.length ? Buffer.from(tail) : undefined;
      }
      if (partial && partial.length > MAX_LINE_BYTES) {
        lineNo++;
        reportBad(`line longer than ${MAX_LINE_BYTES} bytes skipped`, partial.subarray(0, 200).toString('utf8'));
        partial = undefined;
        skipping = true;
      }
    },
    discardPartial(why) {
      if (partial && partial.length) {
        lineNo++;
        reportBad(`incomplete last line dropped (${why})`, partial.subarray(0, 200).toString('utf8'));
      }
      partial = undefined;
      skipping = false;
    },
    resetLineNumbers() {
      lineNo = 0;
    },
  };
}
