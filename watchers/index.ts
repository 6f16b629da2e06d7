// Maps each configured source to its watcher. The daemon only ever sees typed events.
import type { WatcherContext } from '../src/contracts.ts';
import type { Watcher } from '../src/types.ts';
import { createLeaseWatcher } from './leases/lease-watcher.ts';
import { createSyslogWatcher } from './logs/syslog-watcher.ts';
import { createJournalWatcher } from './logs/journal-watcher.ts';
import { createSnoopWatcher } from './dhcp/snoop-watcher.ts';
import { createHttpLogWatcher } from './logs/http-log-watcher.ts';

/** One watcher per configured source type, so the daemon never names a watcher module. */
export function createWatcher(ctx: WatcherContext): Watcher {
  switch (ctx.source.type) {
    case 'dnsmasq-leases':
    case 'isc-leases':
    case 'kea-leases':
      return createLeaseWatcher(ctx);
    case 'syslog':
      return createSyslogWatcher(ctx);
    case 'journal':
      return createJournalWatcher(ctx);
    case 'dhcp-snoop':
      return createSnoopWatcher(ctx);
    case 'http-log':
      return createHttpLogWatcher(ctx);
  }
}
