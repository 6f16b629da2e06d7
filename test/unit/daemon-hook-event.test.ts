import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { archFromVendorClass, parseHookInvocation } from '../../src/daemon/hook-event.ts';
import { xorshift } from './watchers/logs/test-context.ts';

const ROOT = '/srv/tftp';
const T = 1_700_000_000_000;

describe('parseHookInvocation', () => {
  test('add with dnsmasq env', () => {
    const r = parseHookInvocation(['add', '52:54:00:AA:BB:01', '10.99.0.50', 'node01'], {
      DNSMASQ_VENDOR_CLASS: 'PXEClient:Arch:00007:UNDI:003016',
      DNSMASQ_SUPPLIED_HOSTNAME: 'other',
      DNSMASQ_TAGS: 'br0 known pxe',
      DNSMASQ_CLIENT_ID: '01:52:54:00:AA:BB:01',
      DNSMASQ_LEASE_EXPIRES: '1763793600',
      DNSMASQ_INTERFACE: 'br0',
    }, ROOT, T);
    assert.deepEqual(r, {
      event: {
        kind: 'seen', mac: '52:54:00:aa:bb:01', ip: '10.99.0.50', hostname: 'node01', source: 'hook:dnsmasq', sourceType: 'hook', time: T,
        vendorClass: 'PXEClient:Arch:00007:UNDI:003016', arch: 7, expires: 1763793600000, tags: ['br0', 'known', 'pxe'], clientId: '01:52:54:00:aa:bb:01',
      },
    });
  });
  test('old without a hostname argument falls back to the supplied hostname; 0 expiry = infinite', () => {
    const r = parseHookInvocation(['old', '52:54:00:aa:bb:01', '10.99.0.50'], { DNSMASQ_SUPPLIED_HOSTNAME: 'Node-7', DNSMASQ_LEASE_EXPIRES: '0' }, ROOT, T);
    assert.equal(r.event?.kind === 'seen' && r.event.hostname, 'node-7');
    assert.equal(r.event?.kind === 'seen' && r.event.expires, 0);
  });
  test('del -> gone', () => {
    assert.deepEqual(parseHookInvocation(['del', '52:54:00:aa:bb:01', '10.99.0.50', 'node01'], {}, ROOT, T).event, {
      kind: 'gone', mac: '52:54:00:aa:bb:01', ip: '10.99.0.50', source: 'hook:dnsmasq', sourceType: 'hook', time: T, reason: 'dhcp-script del',
    });
  });
  test('tftp SIZE IP PATH, relative to tftp_root, MAC from the name', () => {
    assert.deepEqual(parseHookInvocation(['tftp', '1234', '10.99.0.50', '/srv/tftp/pxelinux.cfg/01-52-54-00-aa-bb-01'], {}, ROOT, T).event, {
      kind: 'seen', ip: '10.99.0.50', mac: '52:54:00:aa:bb:01', file: 'pxelinux.cfg/01-52-54-00-aa-bb-01', source: 'hook:dnsmasq', sourceType: 'hook', time: T,
    });
    assert.deepEqual(parseHookInvocation(['tftp', '1', '10.99.0.50', '/elsewhere/pxelinux.0'], {}, ROOT, T), {});
  });
  test('hostile hostnames, vendor classes and tags are dropped or made printable', () => {
    const r = parseHookInvocation(['add', '52:54:00:aa:bb:01', '10.99.0.50', '$(reboot)'], {
      DNSMASQ_SUPPLIED_HOSTNAME: '../../etc',
      DNSMASQ_VENDOR_CLASS: 'PXEClient:Arch:00007\n*(rw)',
      DNSMASQ_TAGS: 'ok;rm -rf x',
      DNSMASQ_CLIENT_ID: 'zz',
      DNSMASQ_LEASE_EXPIRES: '12abc',
    }, ROOT, T);
    const e = r.event;
    assert.ok(e && e.kind === 'seen');
    assert.equal(e.hostname, undefined);
    assert.equal(e.vendorClass, 'PXEClient:Arch:00007\\x0a*(rw)');
    assert.equal(e.arch, undefined);
    assert.deepEqual(e.tags, ['-rf', 'x']); // 'ok;rm' dropped
    assert.equal(e.clientId, undefined);
    assert.equal(e.expires, undefined);
  });
  test('ignored: unknown actions, init, arp, IPv6/DUID forms', () => {
    for (const argv of [['init'], ['arp-add', '52:54:00:aa:bb:01', '10.0.0.1'], ['relay-snoop', 'x'], ['bogus'], [],
      ['add', '00:01:00:01:2a:bb:cc:dd:52:54:00:aa:bb:01', 'fd99::50', 'node01'], ['tftp', '12', 'fd99::50', '/srv/tftp/x']]) {
      assert.deepEqual(parseHookInvocation(argv, {}, ROOT, T), {}, argv.join(' '));
    }
  });
  test('malformed DHCP actions are bad input with a reason', () => {
    assert.match(parseHookInvocation(['add', '52:54:00:aa:bb:01'], {}, ROOT, T).bad!.reason, /expected MAC IP/);
    assert.match(parseHookInvocation(['add', '06-01:02:03', '10.0.0.1'], {}, ROOT, T).bad!.reason, /not an Ethernet MAC/);
    assert.match(parseHookInvocation(['add', '52:54:00:aa:bb:01', '10.0.0.256'], {}, ROOT, T).bad!.reason, /not an IPv4/);
    assert.match(parseHookInvocation(['tftp', '12'], {}, ROOT, T).bad!.reason, /SIZE IP PATH/);
  });
});

test('archFromVendorClass', () => {
  assert.equal(archFromVendorClass('PXEClient:Arch:00000:UNDI:002001'), 0);
  assert.equal(archFromVendorClass('PXEClient:Arch:00007:UNDI:003016'), 7);
  assert.equal(archFromVendorClass('HTTPClient:Arch:00016'), 16);
  assert.equal(archFromVendorClass('PXEClient'), undefined);
  assert.equal(archFromVendorClass('udhcp 1.35.0'), undefined);
  assert.equal(archFromVendorClass('PXEClient:Arch:99999:UNDI'), undefined);
});

test('fuzz: 100,000 random hook invocations', () => {
  const rnd = xorshift(0x400c);
  const words = ['add', 'old', 'del', 'tftp', 'init', '52:54:00:aa:bb:01', '10.0.0.1', '/srv/tftp/pxelinux.cfg/0A000001', '::ffff:1.2.3.4', '', '\n', '*', '../', 'fd99::1'];
  const pick = () => (rnd() % 3 === 0 ? String.fromCharCode(...Array.from({ length: rnd() % 20 }, () => rnd() % 256)) : words[rnd() % words.length]!);
  for (let i = 0; i < 100_000; i++) {
    const argv = Array.from({ length: rnd() % 6 }, pick);
    const r = parseHookInvocation(argv, { DNSMASQ_VENDOR_CLASS: pick(), DNSMASQ_SUPPLIED_HOSTNAME: pick(), DNSMASQ_TAGS: pick(), DNSMASQ_LEASE_EXPIRES: pick() }, ROOT, T);
    if (r.event?.mac) assert.match(r.event.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    if (r.event?.kind === 'seen' && r.event.hostname) assert.match(r.event.hostname, /^[a-z0-9.-]+$/);
  }
});
