// Passive DHCP listener: binds address:port (0.0.0.0:67 by default) with SO_REUSEADDR, parses each
// client broadcast, and never sends a byte. It can share port 67 only with a DHCP server that also
// sets SO_REUSEADDR, i.e. dnsmasq with bind-interfaces / bind-dynamic (reference/formats.md §6.2).
import { createSocket, type Socket } from 'node:dgram';
import type { WatcherContext } from '../../src/contracts.ts';
import { PxeError } from '../../src/errors.ts';
import type { Watcher } from '../../src/types.ts';
import { eventFromDatagram } from './dhcp-event.ts';

/** Largest datagram we look at; DHCP over Ethernet is at most 1500 bytes, option 57 caps it anyway. */
const MAX_DATAGRAM = 4096;

/** The message users see when port 67 is taken: what holds it and the ways out. */
export function addressInUseMessage(address: string, port: number): string {
  return (
    `dhcp-snoop: cannot listen on ${address}:${port}: address already in use. ` +
    `Another process holds UDP port ${port} without SO_REUSEADDR - usually dnsmasq running without ` +
    `"bind-interfaces". Add "bind-interfaces" (or "bind-dynamic") to the dnsmasq configuration and restart it, ` +
    `or drop the dhcp-snoop source and use the dnsmasq "dhcp-script" hook (pxebootd hook) or a "syslog" source ` +
    `reading dnsmasq-dhcp lines instead.`
  );
}

/** The `dhcp-snoop` source: `{ type: 'dhcp-snoop', interface, address, port }`. */
export function createSnoopWatcher(ctx: WatcherContext): Watcher {
  if (ctx.source.type !== 'dhcp-snoop') throw new Error(`snoop watcher given a ${ctx.source.type} source`);
  const { address, port } = ctx.source;
  const iface = ctx.source.interface;
  const source = `dhcp-snoop:${iface}`;
  let sock: Socket | undefined;
  return {
    name: source,
    async start() {
      const s = createSocket({ type: 'udp4', reuseAddr: true });
      await new Promise<void>((resolve, reject) => {
        const onErr = (e: NodeJS.ErrnoException) => {
          s.close();
          if (e.code === 'EADDRINUSE') reject(new PxeError('RUN', addressInUseMessage(address, port), { cause: e }));
          else if (e.code === 'EACCES') reject(new PxeError('RUN', `dhcp-snoop: binding ${address}:${port} needs root or CAP_NET_BIND_SERVICE`, { cause: e }));
          else reject(new PxeError('RUN', `dhcp-snoop: cannot listen on ${address}:${port}: ${e.message}`, { cause: e }));
        };
        s.once('error', onErr);
        s.bind({ address, port, exclusive: true }, () => {
          s.off('error', onErr);
          resolve();
        });
      });
      s.on('error', (e) => ctx.log.warn({ err: e.message, source }, `dhcp-snoop socket error: ${e.message}`));
      s.on('message', (msg, rinfo) => {
        if (msg.length > MAX_DATAGRAM) {
          ctx.sink.bad({ source, reason: `datagram of ${msg.length} bytes from ${rinfo.address} is too large`, sample: '' });
          return;
        }
        const r = eventFromDatagram(msg, source, Date.now(), `${rinfo.address}:${rinfo.port}`);
        if (r.bad) ctx.sink.bad(r.bad);
        if (r.event) ctx.sink.event(r.event);
      });
      sock = s;
      ctx.log.info({ address, port, interface: iface }, `dhcp-snoop listening on ${address}:${port} (passive, never replies)`);
    },
    async stop() {
      const s = sock;
      sock = undefined;
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
  };
}
