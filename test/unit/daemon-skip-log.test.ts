import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createSkipLog, skippingRule } from '../../src/daemon/skip-log.ts';
import { matchClient } from '../../src/rules.ts';
import { makeConfig, memoryLogger } from './daemon-fakes.ts';
import type { MatchResult } from '../../src/types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INFO = 30;
const WARN = 40;
const DEBUG = 20;

const config = makeConfig('/tmp/x', {
  subnets: [
    { cidr: '10.99.0.0/24', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', pos: 'cfg:10:5' },
    { cidr: '10.98.0.0/16', ignore: true, pos: 'cfg:20:5' },
    { cidr: '10.97.0.0/16', ignore: true, pos: 'cfg:30:5' },
  ],
  hosts: [{ mac: '52:54:00:00:00:aa', ignore: true, pos: 'cfg:40:3' }],
});
const skipped = (ip: string, mac?: string) => {
  const m = matchClient({ ip, mac }, config) as Exclude<MatchResult, { kind: 'match' }>;
  assert.notEqual(m.kind, 'match');
  return { kind: m.kind, why: m.why, by: m.kind === 'ignored' ? m.by : undefined, ip, mac, source: 'dnsmasq-leases:/l' };
};
// from .1: the subnet's network address 10.98.0.0 is reserved (a warning, not a skipped client)
const ipOf = (i: number) => `10.98.${(i + 1) >> 8}.${(i + 1) & 255}`;

describe('skipped clients log', () => {
  test('the rule that skipped a client is named without client data', () => {
    assert.equal(skippingRule(skipped('10.98.1.2')), 'subnet 10.98.0.0/16 at cfg:20:5');
    assert.equal(skippingRule(skipped('10.98.1.3', '52:54:00:00:00:99')), 'subnet 10.98.0.0/16 at cfg:20:5');
    assert.equal(skippingRule(skipped('10.99.0.7', '52:54:00:00:00:aa')), 'host rule at cfg:40:3');
    assert.equal(skippingRule(skipped('192.168.0.1')), 'no subnet rule');
  });

  test('10,000 clients of an ignored subnet: one debug line each, one info summary per rule with the count', async () => {
    const { log, lines } = memoryLogger();
    const s = createSkipLog(log, 40);
    for (let round = 0; round < 2; round++) {
      // the second round is every lease renewed: nothing new to log
      for (let i = 0; i < 10_000; i++) s.note(skipped(ipOf(i), `52:54:00:98:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`));
      for (let i = 1; i <= 3; i++) s.note(skipped(`10.97.0.${i}`));
      s.note(skipped('192.168.0.1'));
      s.note(skipped('10.99.0.7', '52:54:00:00:00:aa'));
    }
    assert.equal(lines.filter((l) => l.level === INFO).length, 0, 'no info line per client');
    assert.equal(lines.filter((l) => l.level === DEBUG).length, 10_005, 'one debug line per client, not per sighting');
    await sleep(80);
    const info = lines.filter((l) => l.level === INFO);
    assert.deepEqual(
      info.map((l) => [l.rule, l.clients]).sort(),
      [['host rule at cfg:40:3', 1], ['no subnet rule', 1], ['subnet 10.97.0.0/16 at cfg:30:5', 3], ['subnet 10.98.0.0/16 at cfg:20:5', 10_000]].sort(),
    );
    assert.match(String(info.find((l) => l.clients === 10_000)!.msg), /^10000 clients \(e\.g\. 10\.98\.0\.1\) ignored by subnet 10\.98\.0\.0\/16 at cfg:20:5$/);
  });

  test('a trickle writes at most one summary per rule per window; reset() counts known clients again; flush() writes at once', async () => {
    const { log, lines } = memoryLogger();
    const s = createSkipLog(log, 30);
    s.note(skipped('10.98.0.1'));
    s.note(skipped('10.98.0.2'));
    await sleep(60);
    s.note(skipped('10.98.0.3'));
    s.note(skipped('10.98.0.1')); // already logged
    s.reset();
    s.note(skipped('10.98.0.2')); // counted again after a reset (a reload)
    s.flush();
    const info = lines.filter((l) => l.level === INFO).map((l) => l.clients);
    assert.deepEqual(info, [2, 2]);
    await sleep(60);
    assert.equal(lines.filter((l) => l.level === INFO).length, 2, 'nothing left to summarise');
  });

  test('a reserved address is one warning whatever MACs claim it, never a summary; a reload warns again', async () => {
    const { log, lines } = memoryLogger();
    const s = createSkipLog(log, 20);
    for (let i = 0; i < 500; i++) s.note(skipped('0.0.0.0', `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`));
    s.note(skipped('10.99.0.255'));
    s.note(skipped('10.99.0.0'));
    s.note(skipped('10.99.0.254')); // the server (makeConfig)
    s.note(skipped('10.99.0.255'));
    await sleep(50);
    const warn = lines.filter((l) => l.level === WARN);
    assert.deepEqual(
      warn.map((l) => l.msg),
      [
        '0.0.0.0 is the unspecified address 0.0.0.0: never provisioned',
        '10.99.0.255 is the broadcast address of subnet 10.99.0.0/24 at cfg:10:5: never provisioned',
        '10.99.0.0 is the network address of subnet 10.99.0.0/24 at cfg:10:5: never provisioned',
        '10.99.0.254 is the server address (the `server` key of the config): never provisioned',
      ],
    );
    assert.equal(lines.filter((l) => l.level === INFO).length, 0, 'reserved addresses are not summarised as skipped clients');
    s.reset();
    s.note(skipped('0.0.0.0'));
    assert.equal(lines.filter((l) => l.level === WARN).length, 5);
  });
});
