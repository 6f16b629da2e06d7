// The program tag is read from exactly its position in each format, so it is the tag the syslog daemon
// recorded. The lines below were captured from rsyslog 8.2302 (three templates) and busybox 1.35
// syslogd (default and -S), each fed by util-linux `logger` run as uid 65534 with these tags:
//   -t 'x dnsmasq-dhcp'            rsyslog records tag "x", the rest is message text
//   -t 'daemon.notice in.tftpd'    looks like busybox's "host facility.level tag" form
//   -t 'dnsmasq-dhcp' --id=4242    a real tag (any local user can log one: syslog is not authoritative)
// test/integration/reliability/syslog-tag-spoof.test.ts repeats this live.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newSyslogFormat, parseSyslogLine, readProgramTag } from '../../../../watchers/logs/syslog-line.ts';
import { createLineProcessor } from '../../../../watchers/logs/line-processor.ts';
import { collectingContext } from './test-context.ts';

const NOW = new Date(2026, 11, 5);

/** per format: [line, the tag its writer recorded (undefined: no tag we accept)] */
const CAPTURED: Record<string, Array<[string, string | undefined]>> = {
  'rsyslog RFC 3339 (RSYSLOG_FileFormat)': [
    ['2026-12-04T20:44:52.728756+00:00 vm rsyslogd: [origin software="rsyslogd" swVersion="8.2302.0" x-pid="10502" x-info="https://www.rsyslog.com"] start', 'rsyslogd'],
    ['2026-12-04T20:44:52.772803+00:00 vm x dnsmasq-dhcp: DHCPRELEASE(br0) 10.88.0.165 52:54:00:cc:00:65', undefined],
    ['2026-12-04T20:44:52.781209+00:00 vm daemon.notice in.tftpd[77]: RRQ from 10.88.0.166 filename pxelinux.0', undefined],
    ['2026-12-04T20:44:52.783986+00:00 vm dnsmasq-dhcp[5]:: DHCPRELEASE(br0) 10.88.0.167 52:54:00:cc:00:67', undefined],
    ['2026-12-04T20:44:52.786656+00:00 vm dnsmasq-dhcp[4242]: DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68 genuine-tag', 'dnsmasq-dhcp'],
    ['2026-12-04T20:44:52.789529+00:00 vm host in.tftpd:: RRQ from 10.88.0.169 filename pxelinux.0', undefined],
  ],
  'rsyslog traditional (RSYSLOG_TraditionalFileFormat)': [
    ['Dec  4 20:44:53 vm rsyslogd: [origin software="rsyslogd" swVersion="8.2302.0" x-pid="10607" x-info="https://www.rsyslog.com"] start', 'rsyslogd'],
    ['Dec  4 20:44:53 vm x dnsmasq-dhcp: DHCPRELEASE(br0) 10.88.0.165 52:54:00:cc:00:65', undefined],
    ['Dec  4 20:44:53 vm daemon.notice in.tftpd[77]: RRQ from 10.88.0.166 filename pxelinux.0', undefined],
    ['Dec  4 20:44:53 vm dnsmasq-dhcp[5]:: DHCPRELEASE(br0) 10.88.0.167 52:54:00:cc:00:67', undefined],
    ['Dec  4 20:44:53 vm dnsmasq-dhcp[4242]: DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68 genuine-tag', 'dnsmasq-dhcp'],
    ['Dec  4 20:44:53 vm host in.tftpd:: RRQ from 10.88.0.169 filename pxelinux.0', undefined],
  ],
  'rsyslog RFC 5424 (RSYSLOG_SyslogProtocol23Format)': [
    ['<46>1 2026-12-04T20:44:53.981646+00:00 vm rsyslogd - - -  [origin software="rsyslogd" swVersion="8.2302.0" x-pid="10664" x-info="https://www.rsyslog.com"] start', 'rsyslogd'],
    ['<13>1 2026-12-04T20:44:54.036350+00:00 vm x - - -  dnsmasq-dhcp: DHCPRELEASE(br0) 10.88.0.165 52:54:00:cc:00:65', 'x'],
    ['<13>1 2026-12-04T20:44:54.051710+00:00 vm daemon.notice - - -  in.tftpd[77]: RRQ from 10.88.0.166 filename pxelinux.0', 'daemon.notice'],
    ['<13>1 2026-12-04T20:44:54.075711+00:00 vm dnsmasq-dhcp 5 - -  DHCPRELEASE(br0) 10.88.0.167 52:54:00:cc:00:67', 'dnsmasq-dhcp'],
    ['<13>1 2026-12-04T20:44:54.078882+00:00 vm dnsmasq-dhcp 4242 - -  DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68 genuine-tag', 'dnsmasq-dhcp'],
    ['<13>1 2026-12-04T20:44:54.086698+00:00 vm host - - -  in.tftpd:: RRQ from 10.88.0.169 filename pxelinux.0', 'host'],
  ],
  'busybox syslogd (default: host facility.level)': [
    ['Dec  4 20:44:54 vm syslog.info syslogd started: BusyBox v1.35.0', undefined],
    ['Dec  4 20:44:54 vm user.notice x dnsmasq-dhcp: DHCPRELEASE(br0) 10.88.0.165 52:54:00:cc:00:65', undefined],
    ['Dec  4 20:44:54 vm user.notice daemon.notice in.tftpd[77]: RRQ from 10.88.0.166 filename pxelinux.0', undefined],
    ['Dec  4 20:44:54 vm user.notice dnsmasq-dhcp[5]:: DHCPRELEASE(br0) 10.88.0.167 52:54:00:cc:00:67', undefined],
    ['Dec  4 20:44:54 vm user.notice dnsmasq-dhcp[4242]: DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68 genuine-tag', 'dnsmasq-dhcp'],
    ['Dec  4 20:44:54 vm user.notice host in.tftpd:: RRQ from 10.88.0.169 filename pxelinux.0', undefined],
  ],
  'busybox syslogd -S (no host)': [
    ['Dec  4 20:44:55 syslogd started: BusyBox v1.35.0', undefined],
    ['Dec  4 20:44:55 x dnsmasq-dhcp: DHCPRELEASE(br0) 10.88.0.165 52:54:00:cc:00:65', undefined],
    ['Dec  4 20:44:55 daemon.notice in.tftpd[77]: RRQ from 10.88.0.166 filename pxelinux.0', undefined],
    ['Dec  4 20:44:55 dnsmasq-dhcp[5]:: DHCPRELEASE(br0) 10.88.0.167 52:54:00:cc:00:67', undefined],
    ['Dec  4 20:44:55 dnsmasq-dhcp[4242]: DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68 genuine-tag', 'dnsmasq-dhcp'],
    ['Dec  4 20:44:55 host in.tftpd:: RRQ from 10.88.0.169 filename pxelinux.0', undefined],
  ],
};

/** a line of each writer's own form, read first (see SyslogFormat: a traditional-timestamp file's form is learned) */
const primer = (lines: Array<[string, string | undefined]>) => lines.find(([l]) => l.includes('genuine-tag'))![0];

describe('the tag is the one the syslog daemon recorded', () => {
  for (const [name, lines] of Object.entries(CAPTURED)) {
    test(name, () => {
      const fmt = newSyslogFormat();
      assert.equal(readProgramTag(primer(lines), fmt), 'dnsmasq-dhcp');
      for (const [line, tag] of lines) {
        // "syslogd started: BusyBox" is busybox's own line with a space in its tag: no tag we read
        assert.equal(readProgramTag(line, fmt), tag, line);
        const p = parseSyslogLine(line, NOW, fmt);
        assert.equal(p?.program, tag, line);
      }
    });
    test(`${name}: through the line processor only lines with a real dnsmasq-dhcp tag are events`, () => {
      const c = collectingContext({ type: 'syslog', path: '/x', from_start: true, programs: [] });
      createLineProcessor(c.ctx).push([primer(lines), ...lines.map(([l]) => l)].join('\n') + '\n');
      // in RFC 5424 rsyslog itself took 'dnsmasq-dhcp[5]:' as APP-NAME dnsmasq-dhcp, PROCID 5: the same
      // as `logger -t dnsmasq-dhcp --id=5`, which any local user may run (syslog is not authoritative)
      const want = name.includes('5424') ? ['seen 10.88.0.168', 'gone 10.88.0.167', 'seen 10.88.0.168'] : ['seen 10.88.0.168', 'seen 10.88.0.168'];
      assert.deepEqual(c.events.map((e) => `${e.kind} ${'ip' in e ? e.ip : ''}`), want);
    });
  }
});

describe('the parsed fields', () => {
  test('RFC 5424: APP-NAME, PROCID, host, time and the message after the structured data', () => {
    const r = parseSyslogLine('<13>1 2026-12-04T20:44:54.078882+00:00 vm dnsmasq-dhcp 4242 - -  DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68 genuine-tag', NOW);
    assert.deepEqual(r, { program: 'dnsmasq-dhcp', pid: 4242, host: 'vm', time: Date.UTC(2026, 11, 4, 20, 44, 54, 78), message: 'DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68 genuine-tag' });
    const sd = parseSyslogLine('<30>1 2026-12-04T20:44:54Z vm in.tftpd - ID47 [ex@1 a="x\\"]" b="]"][ex@2 c="d"] RRQ from 10.0.0.1 filename a', NOW);
    assert.equal(sd?.program, 'in.tftpd');
    assert.equal(sd?.pid, undefined);
    assert.equal(sd?.message, 'RRQ from 10.0.0.1 filename a');
  });
  test('RFC 5424 junk gives undefined', () => {
    for (const l of ['<13>', '<13>1 ', '<13>1 2026-12-04T20:44:54Z vm - - - - m', '<13>1 2026-12-04T20:44:54Z vm p 1 -', '<13>2 2026-12-04T20:44:54Z vm p 1 - - m', '<13>1 2026-12-04T20:44:54Z vm p 1 - [x m', '<1234567>1 t h p 1 - - m']) {
      assert.equal(parseSyslogLine(l, NOW), undefined, l);
    }
  });
});

describe('what a source has shown about its format', () => {
  test('after a line without a host, a host-looking line is refused (busybox -S: logger -t "x dnsmasq-dhcp")', () => {
    const fmt = newSyslogFormat();
    assert.equal(readProgramTag('Dec  4 20:44:55 dnsmasq-dhcp[4242]: DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68', fmt), 'dnsmasq-dhcp');
    assert.equal(readProgramTag('Dec  4 20:44:55 x dnsmasq-dhcp: DHCPRELEASE(br0) 10.88.0.165 52:54:00:cc:00:65', fmt), undefined);
  });
  test('after a host + tag line, the busybox facility form is refused (rsyslog: logger -t "daemon.notice in.tftpd")', () => {
    const fmt = newSyslogFormat();
    assert.equal(readProgramTag('Dec  4 20:44:53 vm cron[1]: x', fmt), 'cron');
    assert.equal(readProgramTag('Dec  4 20:44:53 vm daemon.notice in.tftpd[77]: RRQ from 10.88.0.166 filename pxelinux.0', fmt), undefined);
  });
  test('limit: before the source has shown its form, the two readings of a traditional line cannot be told apart', () => {
    assert.equal(readProgramTag('Dec  4 20:44:53 vm daemon.notice in.tftpd[77]: RRQ', newSyslogFormat()), 'in.tftpd');
    assert.equal(readProgramTag('Dec  4 20:44:55 x dnsmasq-dhcp: DHCPRELEASE', newSyslogFormat()), 'dnsmasq-dhcp');
  });
  test('a declared format closes that window from the first line (format: plain / rsyslog)', () => {
    // plain: dnsmasq's log-facility file and busybox -S write no host; a "host" there is a forged tag
    assert.equal(readProgramTag('Dec  4 20:44:55 x dnsmasq-dhcp: DHCPRELEASE', newSyslogFormat('plain')), undefined);
    assert.equal(readProgramTag('Dec  4 20:44:55 dnsmasq-dhcp[4242]: DHCPACK(br0) 10.88.0.168 52:54:00:cc:00:68', newSyslogFormat('plain')), 'dnsmasq-dhcp');
    // rsyslog never writes busybox's facility.level: that reading is a forged tag
    assert.equal(readProgramTag('Dec  4 20:44:53 vm daemon.notice in.tftpd[77]: RRQ', newSyslogFormat('rsyslog')), undefined);
    assert.equal(readProgramTag('Dec  4 20:44:53 vm in.tftpd[77]: RRQ from 10.0.0.5 filename pxelinux.0', newSyslogFormat('rsyslog')), 'in.tftpd');
    // busybox and auto keep every form open
    assert.equal(readProgramTag('Dec  4 20:44:53 vm daemon.notice in.tftpd[77]: RRQ', newSyslogFormat('busybox')), 'in.tftpd');
  });
  test('RFC 3339 and RFC 5424 lines have one reading whatever came before', () => {
    assert.equal(readProgramTag('2026-12-04T20:44:52.772803+00:00 vm x dnsmasq-dhcp: DHCPRELEASE', newSyslogFormat()), undefined);
    assert.equal(readProgramTag('2026-12-04T20:44:52.772803+00:00 vm daemon.notice in.tftpd[1]: RRQ', newSyslogFormat()), undefined);
  });
});
