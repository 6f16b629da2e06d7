// `logger -t 'x dnsmasq-dhcp' "DHCPRELEASE(br0) 10.88.0.165 52:54:00:cc:00:65"` run by a normal user:
// rsyslog records the tag as `x`, so the line must not count as dnsmasq-dhcp. Live: rsyslog (RFC 3339,
// traditional and RFC 5424 templates) and busybox syslogd (default and -S), each in a private mount
// namespace with its own /dev/log, fed by util-linux logger as uid 65534; the file each writes goes
// through the syslog watcher's line processor.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, startDaemon, tempDir, waitFor } from '../../helpers/lab.ts';
import { createLineProcessor } from '../../../watchers/logs/line-processor.ts';
import { collectingContext } from '../../unit/watchers/logs/test-context.ts';

const END = 'pxt-spoof-end';

/** the logger runs, as uid 65534: a real tag first (the writer's own form), then the forged ones */
const SEND = [
  `-t dnsmasq-dhcp --id=4242 'DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68 real'`,
  `-t 'x dnsmasq-dhcp' 'DHCPRELEASE(br0) 10.88.0.165 52:54:00:cc:00:65'`,
  `-t 'daemon.notice in.tftpd' --id=77 'RRQ from 10.88.0.166 filename pxelinux.0'`,
  `-t 'boot dnsmasq-dhcp' 'DHCPRELEASE(br0) 10.88.0.169 52:54:00:cc:00:69'`,
  `-t 'user.notice dnsmasq-dhcp' 'DHCPRELEASE(br0) 10.88.0.170 52:54:00:cc:00:70'`,
  `-t ${END} done`,
].map((a) => `setpriv --reuid=65534 --regid=65534 --clear-groups logger ${a}`);

const WRITERS: Record<string, (dir: string, file: string) => string> = {
  'rsyslog RFC 3339': (dir, file) => rsyslog(dir, file, 'RSYSLOG_FileFormat'),
  'rsyslog traditional': (dir, file) => rsyslog(dir, file, 'RSYSLOG_TraditionalFileFormat'),
  'rsyslog RFC 5424': (dir, file) => rsyslog(dir, file, 'RSYSLOG_SyslogProtocol23Format'),
  'busybox syslogd': (_dir, file) => `busybox syslogd -n -O '${file}' &`,
  'busybox syslogd -S': (_dir, file) => `busybox syslogd -n -S -O '${file}' &`,
};

function rsyslog(dir: string, file: string, template: string): string {
  const conf = path.join(dir, 'rsyslog.conf');
  mkdirSync(path.join(dir, 'work'));
  writeFileSync(
    conf,
    `global(workDirectory="${dir}/work")\n` +
      `module(load="imuxsock" SysSock.Name="/dev/log" SysSock.Unlink="on" SysSock.RateLimit.Interval="0")\n` +
      `*.* action(type="omfile" file="${file}" template="${template}")\n`,
  );
  return `rsyslogd -n -f '${conf}' -i '${dir}/rsyslogd.pid' &`;
}

describe('a forged syslog tag', () => {
  after(cleanupAll);

  for (const [name, start] of Object.entries(WRITERS)) {
    test(`${name}: logger -t 'x dnsmasq-dhcp' and friends as uid 65534 give no event`, { timeout: 60_000 }, async () => {
      requireRoot();
      for (const t of ['unshare', 'setpriv', 'logger', 'rsyslogd', 'busybox']) requireTool(t);
      const dir = tempDir('pxt-tag-');
      const file = path.join(dir, 'syslog');
      const script = [
        'mount -t tmpfs -o mode=755 pxtdev /dev',
        'mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/urandom c 1 9',
        start(dir, file),
        'i=0; while [ ! -S /dev/log ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done',
        ...SEND,
        'wait',
      ].join('\n');
      const d = startDaemon(`${name} + logger`, ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script], { logFile: path.join(dir, 'out') });
      try {
        await waitFor(`${name} to write the last logger line`, () => existsSync(file) && readFileSync(file, 'utf8').includes(END), 20_000, 100);
      } finally {
        await d.stop();
      }
      const text = readFileSync(file, 'utf8');
      const c = collectingContext({ type: 'syslog', path: file, from_start: true, programs: [] });
      createLineProcessor(c.ctx).push(text);
      const got = c.events.map((e) => `${e.kind} ${'ip' in e ? e.ip : ''}`);
      assert.deepEqual(got, ['seen 10.88.0.168'], `events from:\n${text}`);
    });
  }
});
