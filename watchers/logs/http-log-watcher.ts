// Watcher for an HTTP server's access log (nginx, Apache, lighttpd in combined format): follows the
// file across rotation like the syslog watcher, and turns each fetch of a file under tftp_root into
// a ClientSeen with `file` set, so HTTP fetches land in the timeline and count as boots as TFTP's do.
import type { WatcherContext } from '../../src/contracts.ts';
import type { Watcher } from '../../src/types.ts';
import { printable } from '../../src/validate.ts';
import { followLogFile } from './log-file-watcher.ts';
import { eventFromAccessLine, urlPrefixOf } from './http-log-events.ts';
import { createLineSplitter, type LineSplitter } from './line-splitter.ts';

/** The byte-to-event pipeline of one http-log source (the watcher minus the file). */
export function createHttpLogProcessor(ctx: Pick<WatcherContext, 'config' | 'source' | 'sink'>): LineSplitter {
  if (ctx.source.type !== 'http-log') throw new Error(`http-log processor given a ${ctx.source.type} source`);
  const source = `http-log:${ctx.source.path}`;
  const opts = { source, format: ctx.source.format, urlPrefix: urlPrefixOf(ctx.config.http_base) };
  return createLineSplitter({
    line(text, lineNo) {
      const r = eventFromAccessLine(text, opts);
      if (r.bad) ctx.sink.bad({ ...r.bad, line: lineNo });
      if (r.event) ctx.sink.event(r.event);
    },
    bad: (reason, sample, lineNo) => ctx.sink.bad({ source, line: lineNo, reason, sample: printable(sample) }),
  });
}

/** The `http-log` source: `{ type: 'http-log', path, format, from_start }`. */
export function createHttpLogWatcher(ctx: WatcherContext): Watcher {
  if (ctx.source.type !== 'http-log') throw new Error(`http-log watcher given a ${ctx.source.type} source`);
  const src = ctx.source;
  return followLogFile(ctx, 'http-log', src.path, src.from_start, createHttpLogProcessor(ctx), { format: src.format });
}
