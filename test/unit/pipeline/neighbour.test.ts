import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupNeighbourMac, parseIpNeigh } from '../../../src/pipeline/neighbour.ts';
import { createFakeRunner } from '../../helpers/fake-runner.ts';

// captured from `ip neigh show` on this host and in a test namespace (iproute2 6.1)
const SAMPLE = `192.0.2.1 dev eth0 lladdr 02:fc:00:00:00:05 STALE 
10.99.0.2 dev br0 lladdr 52:54:00:AA:BB:01 REACHABLE 
10.99.0.3 dev br0 FAILED 
10.99.0.4 dev br0 INCOMPLETE 
10.99.0.5 dev br0 lladdr 52:54:00:aa:bb:05 router DELAY
10.99.0.6 dev br0 lladdr 52:54:00:aa:bb:06 PERMANENT
fd00::1 dev eth0 FAILED 
garbage line
`;

describe('parseIpNeigh', () => {
  test('IPv4 entries with dev, lladdr and state', () => {
    assert.deepEqual(parseIpNeigh(SAMPLE), [
      { ip: '192.0.2.1', dev: 'eth0', mac: '02:fc:00:00:00:05', state: 'STALE' },
      { ip: '10.99.0.2', dev: 'br0', mac: '52:54:00:aa:bb:01', state: 'REACHABLE' },
      { ip: '10.99.0.3', dev: 'br0', state: 'FAILED' },
      { ip: '10.99.0.4', dev: 'br0', state: 'INCOMPLETE' },
      { ip: '10.99.0.5', dev: 'br0', mac: '52:54:00:aa:bb:05', state: 'DELAY' },
      { ip: '10.99.0.6', dev: 'br0', mac: '52:54:00:aa:bb:06', state: 'PERMANENT' },
    ]);
  });
  test('empty and junk', () => {
    assert.deepEqual(parseIpNeigh(''), []);
    assert.deepEqual(parseIpNeigh('\0\n1.2.3\n'), []);
  });
});

describe('lookupNeighbourMac', () => {
  test('runs ip neigh show <ip> through the runner and returns the MAC', async () => {
    const runner = createFakeRunner((argv) => ({ stdout: SAMPLE.split('\n').filter((l) => l.startsWith(argv[3]! + ' ')).join('\n') }));
    assert.equal(await lookupNeighbourMac(runner, '/sbin/ip', '10.99.0.2'), '52:54:00:aa:bb:01');
    assert.deepEqual(runner.calls[0]!.argv, ['/sbin/ip', 'neigh', 'show', '10.99.0.2']);
    assert.equal(await lookupNeighbourMac(runner, 'ip', '10.99.0.3'), undefined);
    assert.equal(await lookupNeighbourMac(runner, 'ip', '10.99.0.4'), undefined);
    assert.equal(await lookupNeighbourMac(runner, 'ip', '10.99.0.9'), undefined);
  });
  test('an invalid ip never reaches the runner; a failing ip command gives undefined', async () => {
    const runner = createFakeRunner(() => ({ exitCode: 1, stderr: 'boom' }));
    assert.equal(await lookupNeighbourMac(runner, 'ip', '10.0.0.1; reboot'), undefined);
    assert.equal(runner.calls.length, 0);
    assert.equal(await lookupNeighbourMac(runner, 'ip', '10.0.0.1'), undefined);
    assert.equal(runner.calls.length, 1);
  });
});

test('fuzz: 100,000 mutated ip neigh outputs, no throw, only valid entries', async () => {
  const { xorshift } = await import('../watchers/logs/test-context.ts');
  const rnd = xorshift(0x4e16);
  for (let i = 0; i < 100_000; i++) {
    let s = SAMPLE;
    for (let k = 0; k < 1 + (rnd() % 4); k++) {
      const at = rnd() % (s.length + 1);
      s = s.slice(0, at) + String.fromCharCode(rnd() % 256) + s.slice(at + (rnd() % 6));
    }
    for (const e of parseIpNeigh(s)) {
      assert.match(e.ip, /^\d+\.\d+\.\d+\.\d+$/);
      if (e.mac) assert.match(e.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    }
  }
});
