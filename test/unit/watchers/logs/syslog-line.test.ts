import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSyslogLine, readProgramTag } from '../../../../watchers/logs/syslog-line.ts';

const NOW = new Date(2026, 10, 22, 12, 0, 0);

describe('parseSyslogLine', () => {
  test('rsyslog RFC 3339 (Debian 12 default)', () => {
    const r = parseSyslogLine('2026-11-22T03:33:03.876688+00:00 vm in.tftpd[19924]: RRQ from 10.99.0.164 filename pxelinux.cfg/01-52-54-00-aa-bb-06', NOW);
    assert.deepEqual(r, {
      time: Date.UTC(2026, 10, 22, 3, 33, 3, 876),
      host: 'vm',
      program: 'in.tftpd',
      pid: 19924,
      message: 'RRQ from 10.99.0.164 filename pxelinux.cfg/01-52-54-00-aa-bb-06',
    });
  });
  test('traditional, space-padded day', () => {
    const r = parseSyslogLine('May  1 12:34:56 pxehost in.tftpd[4242]: RRQ from 192.168.1.50 filename pxelinux.0', NOW);
    assert.equal(r?.host, 'pxehost');
    assert.equal(r?.program, 'in.tftpd');
    assert.equal(r?.pid, 4242);
    assert.equal(r?.time, new Date(2026, 4, 1, 12, 34, 56).getTime());
    assert.equal(r?.message, 'RRQ from 192.168.1.50 filename pxelinux.0');
  });
  test('dnsmasq log-facility file: no host', () => {
    const r = parseSyslogLine('Nov 22 03:31:43 dnsmasq-dhcp[11096]: DHCPACK(br0) 10.99.0.164 52:54:00:aa:bb:01 ', NOW);
    assert.deepEqual(r, { time: new Date(2026, 10, 22, 3, 31, 43).getTime(), program: 'dnsmasq-dhcp', pid: 11096, message: 'DHCPACK(br0) 10.99.0.164 52:54:00:aa:bb:01 ' });
  });
  test('busybox syslogd with host and facility.level', () => {
    const r = parseSyslogLine('Nov 22 03:33:13 vm daemon.notice in.tftpd[20502]: RRQ from 10.99.0.164 filename x', NOW);
    assert.equal(r?.host, 'vm');
    assert.equal(r?.program, 'in.tftpd');
    assert.equal(r?.message, 'RRQ from 10.99.0.164 filename x');
  });
  test('tag without pid, and atftpd pid.thread', () => {
    assert.deepEqual(parseSyslogLine('2026-11-22T03:49:35.396823+00:00 vm e2e-inject: hello', NOW)?.program, 'e2e-inject');
    assert.equal(parseSyslogLine('May  1 12:34:56 h atftpd[811.140211]: Serving a to 1.2.3.4:5', NOW)?.pid, 811);
  });
  test('December lines read in January belong to last year', () => {
    const jan = new Date(2027, 0, 1, 0, 5, 0);
    assert.equal(parseSyslogLine('Dec 31 23:59:59 h p: m', jan)?.time, new Date(2026, 11, 31, 23, 59, 59).getTime());
  });
  test('junk gives undefined, never throws', () => {
    for (const l of ['', 'x', 'Nov 22 03:31:43', 'Nov 22 03:31:43 ', '2026-11-22T03:33:03 ', 'RRQ from 1.2.3.4 filename x', 'Nov 22 03:31:43 a b c d: e', 'Nov 22 03:31:43 p[x]: m', 'Nov 22 03:31:43 : m']) {
      assert.equal(parseSyslogLine(l, NOW), undefined, JSON.stringify(l));
    }
  });
  test('the message keeps an injected tag-like prefix inside the message', () => {
    const r = parseSyslogLine('Nov 22 03:31:43 host evil: in.tftpd[1]: RRQ from 1.2.3.4 filename x', NOW);
    assert.equal(r?.program, 'evil');
    assert.equal(readProgramTag('Nov 22 03:31:43 host evil: in.tftpd[1]: RRQ'), 'evil');
  });
});
