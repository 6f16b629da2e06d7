// Watcher for a syslog file (rsyslog, busybox syslogd, dnsmasq log-facility): follows the file
// across rotation and feeds the line pipeline; events come only from trusted program tags.
import type { WatcherContext } from '../../src/contracts.ts';
import type { Watcher } from '../../src/types.ts';
import { createFileFollower } from './file-follower.ts';
import { createLineProcessor } from './line-processor.ts';

/** The `syslog` source: `{ type: 'syslog', path, from_start, programs }`. */
export function createSyslogWatcher(ctx: WatcherContext): Watcher {
  if (ctx.source.type !== 'syslog') throw new Error(`syslog watcher given a ${ctx.source.type} source`);
  const src = ctx.source;
  const lines = createLineProcessor(ctx);
  const follower = createFileFollower({
    path: src.path,
    fromStart: src.from_start,
    onData: (chunk) => lines.push(chunk),
    onReset(why) {
      lines.discardPartial(why);
      lines.resetLineNumbers();
      ctx.log.info({ path: src.path, why }, `syslog source ${src.path} ${why}; reading it from the start`);
    },
    onError: (e) => ctx.log.warn({ path: src.path, err: e.message }, `syslog source ${src.path}: ${e.message}`),
    onRefused(reason, e) {
      if (reason === undefined) ctx.log.info({ path: src.path }, `syslog source ${src.path} is a regular file again; reading it`);
      else ctx.log.warn({ path: src.path, reason }, `syslog source ${e?.message ?? src.path}; not read, waiting for a regular file`);
    },
  });
  return {
    name: `syslog:${src.path}`,
    async start() {
      await follower.start();
      ctx.log.info({ path: src.path, from_start: src.from_start }, `following ${src.path}`);
    },
    stop: () => follower.stop(),
  };
}
