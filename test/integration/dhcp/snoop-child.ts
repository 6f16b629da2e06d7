// Runs the dhcp-snoop watcher in the current network namespace (started with `ip netns exec`) and
// prints one JSON line per event / bad input, "READY" once reading, or "ERROR <message>" and exit 1.
// On SIGTERM it stops the watcher (which logs its drop summary, printed as {"log": ...}) and exits.
// usage: node snoop-child.ts INTERFACE [BURST PER_SECOND]
import { createSnoopWatcher } from '../../../watchers/dhcp/snoop-watcher.ts';
import { collectingContext } from '../../unit/watchers/logs/test-context.ts';
import { createLogger } from '../../../src/log.ts';

const [iface = 'br0', burst = '100', perSecond = '10'] = process.argv.slice(2);
const c = collectingContext({ type: 'dhcp-snoop', interface: iface, port: 67, new_client_burst: Number(burst), new_clients_per_second: Number(perSecond) });
c.ctx.sink = {
  event: (e) => process.stdout.write(JSON.stringify({ event: e }) + '\n'),
  bad: (b) => process.stdout.write(JSON.stringify({ bad: b }) + '\n'),
};
c.ctx.log = createLogger({ level: 'info' });
const w = createSnoopWatcher(c.ctx);
try {
  await w.start();
  process.stdout.write('READY\n');
} catch (e) {
  process.stdout.write(`ERROR ${(e as Error).message}\n`);
  process.exit(1);
}
process.on('SIGTERM', () => void w.stop().then(() => setTimeout(() => process.exit(0), 100)));
