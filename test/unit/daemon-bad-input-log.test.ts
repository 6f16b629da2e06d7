// Bad-input warnings are rate-limited per source: the first BAD_LINES_PER_WINDOW of a window one by
// one, then one summary with the count. Pure limiter with a clock passed in; the logging shell with a
// captured pino stream and a clock the test moves.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { BAD_LINES_PER_WINDOW, BAD_WINDOW_MS, createBadInputLimiter, createBadInputLog } from '../../src/daemon/bad-input-log.ts';
import type { BadInput } from '../../src/types.ts';

const bad = (source: string, i: number): BadInput => ({ source, line: i, reason: `reason ${i}`, sample: `x${i}` });

describe('createBadInputLimiter', () => {
  test('a flood logs the first N of a window, then one summary with the count when the window ends', () => {
    const l = createBadInputLimiter(3, 1000);
    const logged = [];
    for (let i = 0; i < 20_000; i++) if (l.admit(bad('s', i), 100 + (i % 500)).log) logged.push(i);
    assert.deepEqual(logged, [0, 1, 2]);
    assert.equal(l.nextDue(), 1100);
    assert.deepEqual(l.due(1099), []);
    assert.deepEqual(l.due(1100), [{ source: 's', suppressed: 19_997, windowMs: 1000, reason: 'reason 19999' }]);
    assert.deepEqual(l.due(5000), []);
    assert.equal(l.nextDue(), undefined);
  });
  test('sources are counted apart', () => {
    const l = createBadInputLimiter(2, 1000);
    const got = ['a', 'a', 'a', 'b', 'b', 'b', 'a'].map((s, i) => `${s}${l.admit(bad(s, i), 0).log ? '+' : '-'}`);
    assert.deepEqual(got, ['a+', 'a+', 'a-', 'b+', 'b+', 'b-', 'a-']);
    assert.deepEqual(l.due(1000).map((s) => [s.source, s.suppressed]), [['a', 2], ['b', 1]]);
  });
  test('a new window logs again, and carries the last window\'s summary if the timer has not run yet', () => {
    const l = createBadInputLimiter(1, 1000);
    l.admit(bad('s', 0), 0);
    l.admit(bad('s', 1), 10);
    const d = l.admit(bad('s', 2), 1500);
    assert.equal(d.log, true);
    assert.deepEqual(d.summary, { source: 's', suppressed: 1, windowMs: 1000, reason: 'reason 1' });
    assert.deepEqual(l.due(2000), []);
  });
  test('a quiet source never writes a summary', () => {
    const l = createBadInputLimiter(5, 1000);
    for (let i = 0; i < 5; i++) assert.equal(l.admit(bad('s', i), i).log, true);
    assert.equal(l.nextDue(), undefined);
    assert.deepEqual(l.due(10_000), []);
  });
});

test('createBadInputLog: 20,000 garbage inputs give N warnings and one summary line', async () => {
  const lines: Array<{ msg: string; suppressed?: number }> = [];
  const stream = new Writable({ write(c, _e, cb) { for (const l of String(c).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  const log = pino({ level: 'info' }, stream);
  let now = 1_000_000;
  const sink = createBadInputLog(log, createBadInputLimiter(BAD_LINES_PER_WINDOW, 50), () => now);
  for (let i = 0; i < 20_000; i++) sink(bad('dhcp-snoop:eth0', i));
  now += 50;
  await new Promise((r) => setTimeout(r, 200)); // the summary timer (unref'd) runs at the window's end
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, BAD_LINES_PER_WINDOW + 1, JSON.stringify(lines.slice(-2)));
  assert.match(lines[0]!.msg, /^skipped bad input from dhcp-snoop:eth0: reason 0$/);
  assert.equal(lines.at(-1)!.suppressed, 20_000 - BAD_LINES_PER_WINDOW);
  assert.match(lines.at(-1)!.msg, /skipped 19990 more bad inputs from dhcp-snoop:eth0/);
  assert.ok(BAD_WINDOW_MS >= 10_000);
});

describe('flush at stop', () => {
  test('an open window with skipped inputs is summarised at flush, not lost', () => {
    const lines: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => lines.push(msg) } as unknown as Parameters<typeof createBadInputLog>[0];
    let now = 1000;
    const sink = createBadInputLog(log, createBadInputLimiter(2, 60_000), () => now);
    for (let i = 0; i < 5; i++) sink({ source: 'syslog:/x', reason: `bad ${i}`, sample: '' });
    assert.equal(lines.length, 2);
    now += 10; // long before the window ends
    sink.flush();
    assert.equal(lines.length, 3);
    assert.match(lines[2]!, /^skipped 3 more bad inputs from syslog:\/x/);
    sink.flush();
    assert.equal(lines.length, 3, 'nothing twice');
  });
});
