// Watcher for a syslog file (rsyslog, busybox syslogd, dnsmasq log-facility): follows the file
// across rotation and feeds the line pipeline; events come only from trusted program tags.
import type { WatcherContext } from '../../src/contracts.ts';
import type { Watcher } from '../../src/types.ts';
import { followLogFile } from './log-file-watcher.ts';
import { createLineProcessor } from './line-processor.ts';

/** The `syslog` source: `{ type: 'syslog', path, from_start, programs }`. */
export function createSyslogWatcher(ctx: WatcherContext): Watcher {
  if (ctx.source.type !== 'syslog') throw new Error(`syslog watcher given a ${ctx.source.type} source`);
  const src = ctx.source;
  return followLogFile(ctx, 'syslog', src.path, src.from_start, createLineProcessor(ctx));
}
