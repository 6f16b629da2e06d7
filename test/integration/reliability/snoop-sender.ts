// Sends hand-made DHCP client packets over UDP for the snoop attack tests, as whoever runs it (root
// in a client namespace, or `nobody` on the host). Prints "SENT <n>" when every datagram left, or
// "ERROR <message>" and exits 1.
// usage: node snoop-sender.ts '<json Spec>'
import { createSocket } from 'node:dgram';
import { buildPacket } from '../../unit/watchers/dhcp/dhcp-build.ts';

interface Pkt {
  /** option 53: 1 DISCOVER, 3 REQUEST, 7 RELEASE */
  type: number;
  mac: string;
  /** option 50 */
  requested?: string;
  ciaddr?: string;
}

interface Spec {
  /** destinations, each sent every packet */
  to: string[];
  port?: number;
  /** source port; 0 (default) lets the kernel pick */
  fromPort?: number;
  packets?: Pkt[];
  /** n DISCOVERs, MAC `${macPrefix}:hi:lo` (macPrefix: 4 bytes), option 50 `${ipPrefix}.hi.(lo+1)` */
  flood?: { n: number; macPrefix: string; ipPrefix: string };
}

const bytes = (s: string, sep: string, base: number) => s.split(sep).map((x) => parseInt(x, base));

function packet(p: Pkt): Buffer {
  const options = [53, 1, p.type];
  if (p.requested) options.push(50, 4, ...bytes(p.requested, '.', 10));
  options.push(255);
  return buildPacket({ mac: bytes(p.mac, ':', 16), ciaddr: p.ciaddr ? bytes(p.ciaddr, '.', 10) : undefined, options });
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const pkts = (spec.packets ?? []).map(packet);
if (spec.flood) {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  for (let i = 0; i < spec.flood.n; i++) {
    const hi = (i >> 8) & 0xff;
    const lo = i & 0xff;
    pkts.push(packet({ type: 1, mac: `${spec.flood.macPrefix}:${h(hi)}:${h(lo)}`, requested: `${spec.flood.ipPrefix}.${hi}.${lo + 1}` }));
  }
}
const sock = createSocket('udp4');
try {
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(spec.fromPort ?? 0, () => resolve());
  });
  sock.setBroadcast(true);
  let n = 0;
  for (const to of spec.to) {
    for (const b of pkts) {
      await new Promise<void>((resolve, reject) => sock.send(b, spec.port ?? 67, to, (e) => (e ? reject(e) : resolve())));
      n++;
    }
  }
  process.stdout.write(`SENT ${n}\n`);
  sock.close();
} catch (e) {
  process.stdout.write(`ERROR ${(e as Error).message}\n`);
  process.exit(1);
}
