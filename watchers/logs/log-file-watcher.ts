// One log file followed across rotation into a line pipeline: what the syslog and http-log
// sources share (the follower's callbacks and their log lines), so both say the same things.
import type { WatcherContext } from '../../src/contracts.ts';
import type { Watcher } from '../../src/types.ts';
import { createFileFollower } from './file-follower.ts';

/** The part of a line pipeline the follower drives. */
export interface LinePipeline {
  push(chunk: Buffer): void;
  discardPartial(why: string): void;
  resetLineNumbers(): void;
}

/** A Watcher named `kind:path` that follows `path` (from its start when `fromStart`) into `lines`. */
export function followLogFile(ctx: WatcherContext, kind: string, path: string, fromStart: boolean, lines: LinePipeline, startFields: Record<string, unknown> = {}): Watcher {
  const follower = createFileFollower({
    path,
    fromStart,
    onData: (chunk) => lines.push(chunk),
    onReset(why) {
      lines.discardPartial(why);
      lines.resetLineNumbers();
      ctx.log.info({ path, why }, `${kind} source ${path} ${why}; reading it from the start`);
    },
    onError: (e) => ctx.log.warn({ path, err: e.message }, `${kind} source ${path}: ${e.message}`),
    onRefused(reason, e) {
      if (reason === undefined) ctx.log.info({ path }, `${kind} source ${path} is a regular file again; reading it`);
      else ctx.log.warn({ path, reason }, `${kind} source ${e?.message ?? path}; not read, waiting for a regular file`);
    },
  });
  return {
    name: `${kind}:${path}`,
    async start() {
      await follower.start();
      ctx.log.info({ path, from_start: fromStart, ...startFields }, `following ${path}`);
    },
    stop: () => follower.stop(),
  };
}
