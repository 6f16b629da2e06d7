// A private system bus for tests: a `dbus-daemon` with its own config and socket in a temp dir,
// whose policy lets root own org.ganesha.nfsd and send to it (as Debian's nfs-ganesha-dbus.conf
// does on a real system bus). Point ganesha.nfsd and pxebootd at it with DBUS_SYSTEM_BUS_ADDRESS.
// The socket is a path (not an abstract socket), so it reaches across network namespaces; keep it
// out of /run, which Ganesha's test namespace replaces with a tmpfs.
//
// API
//   startPrivateBus(): Promise<PrivateBus>
//   PrivateBus
//     address   "unix:path=<dir>/system_bus_socket", for DBUS_SYSTEM_BUS_ADDRESS
//     pid       dbus-daemon's PID
//     stop()    SIGTERM it (cleanup is registered too)
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireTool, startDaemon, tempDir, waitFor, type Daemon } from './lab.ts';

export interface PrivateBus {
  address: string;
  socket: string;
  pid: number;
  daemon: Daemon;
  stop(): Promise<void>;
}

export function privateBusConfig(socket: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <policy user="root">
    <allow own="org.ganesha.nfsd"/>
    <allow send_destination="org.ganesha.nfsd"/>
  </policy>
</busconfig>
`;
}

export async function startPrivateBus(): Promise<PrivateBus> {
  requireTool('dbus-daemon');
  const dir = tempDir('pxd-dbus-');
  const socket = path.join(dir, 'system_bus_socket');
  const conf = path.join(dir, 'bus.conf');
  writeFileSync(conf, privateBusConfig(socket));
  const daemon = startDaemon('dbus-daemon', ['dbus-daemon', `--config-file=${conf}`, '--nofork', '--nopidfile'], { logFile: path.join(dir, 'dbus.log') });
  await waitFor(`dbus-daemon socket ${socket}`, () => existsSync(socket), 10_000);
  return { address: `unix:path=${socket}`, socket, pid: daemon.pid, daemon, stop: () => daemon.stop() };
}
