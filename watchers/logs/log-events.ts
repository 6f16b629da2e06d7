// Turns one trusted daemon message into a ClientEvent. Shared by the syslog file watcher and the
// journal watcher so both sources give identical events for identical lines.
import type { BadInput, ClientEvent, ClientSeen, SourceType } from '../../src/types.ts';
import { printable } from '../../src/validate.ts';
import { parseDaemonMessage } from './log-messages.ts';
import { clientFromTftpFilename } from './tftp-filename.ts';

/** Where events from these messages say they came from. */
export interface LogEventOptions {
  source: string;
  sourceType: SourceType;
  tftpRoot: string;
  now?: () => number;
}

/** At most one event or one bad-input record per message. */
export interface LogEventResult {
  event?: ClientEvent;
  bad?: Omit<BadInput, 'line' | 'offset'>;
}

/** The event a trusted program's message describes; `{}` for messages that describe none. */
export function eventFromMessage(program: string, message: string, o: LogEventOptions): LogEventResult {
  const r = parseDaemonMessage(program, message, o.tftpRoot);
  if (r === undefined) return {};
  const time = (o.now ?? Date.now)();
  if (r.kind === 'bad') {
    return { bad: { source: o.source, reason: r.reason, sample: printable(`${program}: ${message}`) } };
  }
  if (r.kind === 'release') {
    return { event: { kind: 'gone', ip: r.ip, mac: r.mac, source: o.source, sourceType: o.sourceType, time, reason: 'DHCPRELEASE' } };
  }
  if (r.kind !== 'tftp') {
    const e: ClientSeen = { kind: 'seen', ip: r.ip, mac: r.mac, source: o.source, sourceType: o.sourceType, time };
    if (r.hostname) e.hostname = r.hostname;
    return { event: e };
  }
  // TFTP: the address comes from the daemon; MAC/UUID are what the file name claims. A hex-IP name
  // that disagrees with the requesting address is somebody else's config: keep the real address.
  const who = clientFromTftpFilename(r.file);
  const e: ClientSeen = { kind: 'seen', ip: r.ip, source: o.source, sourceType: o.sourceType, time, file: who.file };
  if (who.mac) e.mac = who.mac;
  if (who.uuid) e.uuid = who.uuid;
  return { event: e };
}
