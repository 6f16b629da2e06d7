// Runs the dhcp-snoop watcher in the current network namespace (started with `ip netns exec`) and
// prints one JSON line per event / bad input, "READY" once bound, or "ERROR <message>" and exit 1.
// usage: node snoop-child.ts ADDRESS PORT
import { createSnoopWatcher } from '../../../watchers/dhcp/snoop-watcher.ts';
import { collectingContext } from '../../unit/watchers/logs/test-context.ts';

const [address = '0.0.0.0', port = '67'] = process.argv.slice(2);
const c = collectingContext({ type: 'dhcp-snoop', interface: 'br0', address, port: Number(port) });
c.ctx.sink = {
  event: (e) => process.stdout.write(JSON.stringify({ event: e }) + '\n'),
  bad: (b) => process.stdout.write(JSON.stringify({ bad: b }) + '\n'),
};
const w = createSnoopWatcher(c.ctx);
try {
  await w.start();
  process.stdout.write('READY\n');
} catch (e) {
  process.stdout.write(`ERROR ${(e as Error).message}\n`);
  process.exit(1);
}
process.on('SIGTERM', () => void w.stop().then(() => process.exit(0)));
