// Every window, pace and "is something else busy" check that decides how long a client waits
// between its lease and its boot files, in one place. How they add up, for one client, in the
// order of the pipeline (watcher -> inbox -> decide -> queue -> planNode -> applyPlan -> record):
//
//   1. watcher: the lease line is seen when the file changes (inotify; no timer here).
//   2. inbox: taken at once when this event-loop turn still has room, else in the next turn:
//      INBOX_PER_TURN events per turn (setImmediate, no timer). A lone lease waits ~0 ms; the k-th
//      event of a burst waits k / INBOX_PER_TURN turns.
//   3. queue: a job runs at once while fewer than `queue.concurrency` (config) run, else it waits
//      for a slot; a failed job retries after `queue.retry_base_ms`..`retry_max_ms` (config).
//   4. apply, mount: at most MOUNT_CONCURRENCY mounts in flight. The post-mount check reads the
//      mount table once per turn for every mount that finished in it, and while other mounts are
//      still running waits for them up to MOUNT_CHECK_MAX_DELAY_MS, so one read verifies many.
//      The fsid's durable write (one fdatasync) overlaps the mount and gates only the export.
//   5. apply, export: the batch flushes EXPORT_BATCH.idleMs after the last request when things
//      are quiet, or at once (next turn) when every node in progress is waiting on it. Right
//      after a flush (a storm) the next batch collects for a window of baseWindowMs that doubles
//      per back-to-back flush up to maxWindowMs, and ends early after busyIdleMs without a new
//      request. Then one reload (`exportfs -r` or an etab edit, or Ganesha's SIGHUP/DBus).
//   6. apply, boot files: rendered while 4 and 5 run, written after the export is live (no timer).
//   7. record: ready at once in memory; its line in state.log follows STATE_LAZY_MS later and is
//      held back while jobs run, up to STATE_MAX_LAZY_MS: never on the client's path. state.json is
//      rewritten only when state.log outgrows it, held back while jobs run up to STATE_FOLD_MAX_DEFER_MS.
//
// So a lone lease is ready after: mount + about EXPORT_BATCH.idleMs + one reload + its boot files.
// In a storm each node adds its wait for a queue slot and a mount slot and at most one batch window
// (<= maxWindowMs), and the reloads stay few: one per window, not one per node.
// Timers that are not on that path (metrics counts, boot-once deadlines, the neighbour table's
// negative cache) are here too, so no module keeps a private clock.

/** Events the inbox takes per event-loop turn before the rest wait for the next turn. */
export const INBOX_PER_TURN = 64;

/** Export batch windows (ms); see step 5 above and provisioners/export-batcher.ts. */
export const EXPORT_BATCH = Object.freeze({ idleMs: 2, busyIdleMs: 15, baseWindowMs: 50, maxWindowMs: 1000, busyGapMs: 100 });

/** Mount/umount operations in flight at once (step 4). */
export const MOUNT_CONCURRENCY = 16;

/** How long a post-mount check waits for other mounts in flight before it reads anyway (step 4). */
export const MOUNT_CHECK_MAX_DELAY_MS = 50;

/** state.json is written this long after a change (step 7), */
export const STATE_LAZY_MS = 200;
/** and held back while jobs run at most this long. */
export const STATE_MAX_LAZY_MS = 5000;
/** A due rewrite of state.json (state.log folded in) is held back while jobs run at most this long. */
export const STATE_FOLD_MAX_DEFER_MS = 60_000;

/** Node counts reach the metrics at most this often (counting 10,000 nodes per event is waste). */
export const COUNTS_REPORT_MS = 250;

/** How long an IP the neighbour table did not know is not looked up again (a chatty log must not spawn `ip neigh` per line). */
export const NEIGHBOUR_RETRY_MS = 5000;

/** How often boot-once profile deadlines are checked. */
export const BOOT_ONCE_SWEEP_MS = 500;
