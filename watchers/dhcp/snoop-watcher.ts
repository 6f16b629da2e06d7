// Passive DHCP listener on one interface: a packet socket bound to `interface` (native addon
// provisioners/native/packetsock.c) reads the IPv4/UDP packets clients send to the server port, and
// never sends a byte. What it takes: UDP from port 68 that arrived on that interface for this host
// (broadcast or unicast), not sent by this host; loopback is never read. It holds no UDP port, so
// it runs beside any DHCP server. New clients are passed on at a bounded rate (admission.ts), and
// what it drops is summarised in one log line per period, never one per packet.
import type { WatcherContext } from '../../src/contracts.ts';
import { PxeError } from '../../src/errors.ts';
import { loadAddon } from '../../src/native.ts';
import type { Watcher } from '../../src/types.ts';
import { createAdmission } from './admission.ts';
import { eventFromDatagram } from './dhcp-event.ts';
import { DROP_WORDS, packetTypeDrop, parseIpUdp, type DropReason } from './ip-udp.ts';

/** The packet socket addon's interface (provisioners/native/packetsock.c). */
export interface PacketSockAddon {
  open(
    iface: string,
    port: number,
    cb: (err: (Error & { code?: string }) | null, packet: (Buffer & { wireLength: number }) | undefined, pktType: number, ifindex: number) => void,
  ): PacketSock;
  /** the interface's index, 0 when it does not exist */
  ifindex(iface: string): number;
}

/** An open packet socket. */
export interface PacketSock {
  ifindex: number;
  close(): void;
  /** packets the filter passed and those the kernel dropped (receive buffer full) since the last call */
  stats(): { packets: number; drops: number };
}

/** How often the dropped-packet summary is logged (at most one line per period). */
export const SUMMARY_MS = 10_000;

/** How often a vanished interface is looked for again. */
const REOPEN_MS = 5_000;

/** The error users see when the socket cannot be opened, with the way out. */
export function openErrorMessage(iface: string, e: Error & { code?: string }): string {
  const head = `dhcp-snoop: cannot read DHCP packets on interface "${iface}"`;
  switch (e.code) {
    case 'ENODEV':
      return `${head}: no such interface (\`ip link\` lists them; set the source's interface to the one facing the boot network)`;
    case 'EPERM':
    case 'EACCES':
      return `${head}: a packet socket needs CAP_NET_RAW (run pxebootd as root, or grant CAP_NET_RAW, e.g. AmbientCapabilities=CAP_NET_RAW in its systemd unit)`;
    case 'EINVAL':
      return `${head}: it is a loopback interface, where no DHCP client is; name the interface facing the boot network`;
    case 'EAFNOSUPPORT':
      return `${head}: this kernel has no packet sockets (CONFIG_PACKET)`;
    default:
      return `${head}: ${e.message}`;
  }
}

/** Loads the addon or says why snoop cannot run. */
function addon(): PacketSockAddon {
  const a = loadAddon<PacketSockAddon>('packetsock', 'packet socket (dhcp-snoop)');
  if ('why' in a) throw new PxeError('RUN', `dhcp-snoop: ${a.why}`);
  return a.mod;
}

/** The `dhcp-snoop` source: `{ type: 'dhcp-snoop', interface, port, new_client_burst, new_clients_per_second }`. */
export function createSnoopWatcher(ctx: WatcherContext, native: () => PacketSockAddon = addon): Watcher {
  if (ctx.source.type !== 'dhcp-snoop') throw new Error(`snoop watcher given a ${ctx.source.type} source`);
  const { port, new_client_burst: burst, new_clients_per_second: perSecond } = ctx.source;
  const iface = ctx.source.interface;
  const source = `dhcp-snoop:${iface}`;
  const admission = createAdmission(burst, perSecond);
  let sock: PacketSock | undefined;
  let mod: PacketSockAddon | undefined;
  let stopped = false;
  let summaryTimer: NodeJS.Timeout | undefined;
  let reopenTimer: NodeJS.Timeout | undefined;
  let downLogged = false;
  const dropped = new Map<DropReason | 'rate', number>();
  let lastLimited: string | undefined;
  let since = Date.now();

  const drop = (why: DropReason | 'rate'): void => {
    dropped.set(why, (dropped.get(why) ?? 0) + 1);
  };

  /** One line for everything dropped since the last one (kernel drops included); nothing if none. */
  function summarise(): void {
    const kernel = sock ? sock.stats().drops : 0;
    if (dropped.size === 0 && kernel === 0) return;
    const parts: string[] = [];
    const counts: Record<string, number> = {};
    let total = kernel;
    const rate = dropped.get('rate');
    if (rate) parts.push(`${rate} new client${rate === 1 ? '' : 's'} over the rate limit (burst ${burst}, ${perSecond}/s; last ${lastLimited})`);
    for (const [why, n] of dropped) {
      counts[why] = n;
      total += n;
      if (why !== 'rate') parts.push(`${n} ${DROP_WORDS[why]}`);
    }
    if (kernel) {
      counts.kernel = kernel;
      parts.push(`${kernel} lost in the kernel (receive buffer full)`);
    }
    const secs = Math.max(1, Math.round((Date.now() - since) / 1000));
    ctx.log.warn({ source, interface: iface, dropped: counts }, `dhcp-snoop dropped ${total} packet${total === 1 ? '' : 's'} on ${iface} in ${secs} s: ${parts.join(', ')}`);
    dropped.clear();
    lastLimited = undefined;
    since = Date.now();
  }

  function onPacket(err: (Error & { code?: string }) | null, packet: (Buffer & { wireLength: number }) | undefined, pktType: number, ifindex: number): void {
    if (err) {
      if (!downLogged) {
        downLogged = true;
        ctx.log.warn({ source, err: err.message }, `dhcp-snoop: interface ${iface} went down or away (${err.code ?? err.message}); reading it again when it is back`);
      }
      sock?.close();
      sock = undefined;
      scheduleReopen();
      return;
    }
    if (!packet || !sock) return;
    if (downLogged) {
      downLogged = false;
      ctx.log.info({ source }, `dhcp-snoop: interface ${iface} is back; reading it again`);
    }
    const why = packetTypeDrop(pktType, ifindex, sock.ifindex);
    if (why) return drop(why);
    const v = parseIpUdp(packet, packet.wireLength, port);
    if (!v.ok) return drop(v.drop);
    const r = eventFromDatagram(v.payload, source, Date.now(), `${v.src}:${v.srcPort}`);
    if (r.bad) ctx.sink.bad(r.bad);
    const e = r.event;
    if (!e) return;
    // only a client with an address can become a node: that is what takes a token
    if (e.kind === 'seen' && e.ip && e.mac && !admission.admit(`${e.mac} ${e.ip}`, Date.now())) {
      lastLimited = `${e.mac} ${e.ip}`;
      return drop('rate');
    }
    ctx.sink.event(e);
  }

  function open(): void {
    mod ??= native();
    try {
      sock = mod.open(iface, port, onPacket);
    } catch (e) {
      const err = e as Error & { code?: string };
      throw new PxeError('RUN', openErrorMessage(iface, err), { cause: err });
    }
  }

  /** After an error (ENETDOWN: the interface went down, or was deleted and perhaps made again with a
   * new index) the socket is closed; a new one is opened once the interface exists. A socket bound
   * to an interface that is still down reports ENETDOWN at once, which comes back here. */
  function scheduleReopen(): void {
    if (reopenTimer || stopped) return;
    reopenTimer = setInterval(() => {
      if (stopped || sock || !mod || mod.ifindex(iface) === 0) return;
      try {
        open();
        clearInterval(reopenTimer);
        reopenTimer = undefined;
      } catch (e) {
        ctx.log.debug({ source }, (e as Error).message);
      }
    }, REOPEN_MS); // not unref'd: a watcher waiting for its interface is work in progress (stop() clears it)
  }

  return {
    name: source,
    async start() {
      stopped = false;
      open();
      since = Date.now();
      summaryTimer = setInterval(summarise, SUMMARY_MS);
      summaryTimer.unref();
      ctx.log.info(
        { interface: iface, port, burst, perSecond },
        `dhcp-snoop reading DHCP client packets (UDP 68 -> ${port}) on ${iface} (passive, never replies; new clients: burst ${burst}, then ${perSecond}/s)`,
      );
    },
    async stop() {
      stopped = true;
      clearInterval(summaryTimer);
      clearInterval(reopenTimer);
      summaryTimer = reopenTimer = undefined;
      summarise();
      const s = sock;
      sock = undefined;
      s?.close();
    },
  };
}
