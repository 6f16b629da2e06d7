// The syslog ingestion path, minus the file: bytes in, lines out, untrusted programs dropped by
// their tag before any regex, trusted lines turned into events. The watcher and the benchmark
// (`createLineProcessor(ctx).push(buffer)`) run exactly this code.
import type { WatcherContext } from '../../src/contracts.ts';
import { printable } from '../../src/validate.ts';
import { eventFromMessage } from './log-events.ts';
import { newSyslogFormat, parseSyslogLine, readProgramTag } from './syslog-line.ts';
import { createLineSplitter, type LineSplitter } from './line-splitter.ts';

/** Counters for the benchmark and for tests. */
export interface LineStats {
  lines: number;
  trusted: number;
  events: number;
  bad: number;
}

/** The byte-to-event pipeline of one syslog source (push, discardPartial, resetLineNumbers: line-splitter.ts). */
export interface LineProcessor extends LineSplitter {
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
  // what this source's lines show about its format, or what the config declares (syslog-line.ts)
  const format = newSyslogFormat(ctx.source.type === 'syslog' ? ctx.source.format : undefined);

  const handleLine = (line: string, lineNo: number) => {
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

  const splitter = createLineSplitter({
    line: handleLine,
    bad(reason, sample, lineNo) {
      stats.bad++;
      ctx.sink.bad({ source, line: lineNo, reason, sample: printable(sample) });
    },
  });
  return { ...splitter, stats };
}
