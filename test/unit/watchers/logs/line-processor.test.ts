import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLineProcessor } from '../../../../watchers/logs/line-processor.ts';
import { collectingContext, stable, xorshift } from './test-context.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/logs');
const src = { type: 'syslog' as const, path: '/var/log/syslog', from_start: true, programs: [] };

describe('line processor on captured fixtures', () => {
  for (const name of ['tftpd-hpa-rsyslog', 'tftpd-hpa-busybox', 'dnsmasq-edge-cases', 'dnsmasq-log-dhcp']) {
    test(name, () => {
      const { ctx, events, bad } = collectingContext(src);
      const p = createLineProcessor(ctx);
      p.push(readFileSync(path.join(FIX, `${name}.syslog`)));
      const want = JSON.parse(readFileSync(path.join(FIX, `${name}.expected.json`), 'utf8')) as { events: unknown[]; bad: Array<{ line: number; reason: string }> };
      assert.deepEqual(events.map(stable), want.events);
      assert.deepEqual(bad.map((b) => ({ line: b.line, reason: b.reason })), want.bad);
      for (const e of events) {
        assert.equal(e.sourceType, 'syslog');
        assert.equal(e.source, 'syslog:/var/log/syslog');
      }
    });
  }
});

describe('trust', () => {
  test('only the configured programs count; logger -t evil is ignored', () => {
    const { ctx, events } = collectingContext(src);
    const p = createLineProcessor(ctx);
    p.push('2026-11-22T03:49:35.401206+00:00 vm evil[4242]: RRQ from 10.99.0.77 filename pxelinux.cfg/01-52-54-00-00-00-77\n');
    p.push('2026-11-22T03:49:35.401206+00:00 vm evil: in.tftpd[1]: RRQ from 10.99.0.77 filename pxelinux.cfg/01-52-54-00-00-00-77\n');
    p.push('2026-11-22T03:49:35.401206+00:00 vm in.tftpdx[1]: RRQ from 10.99.0.77 filename pxelinux.cfg/01-52-54-00-00-00-77\n');
    assert.equal(events.length, 0);
    p.push('2026-11-22T03:49:35.401206+00:00 vm in.tftpd[1]: RRQ from 10.99.0.77 filename pxelinux.cfg/01-52-54-00-00-00-77\n');
    assert.equal(events.length, 1);
  });
  test('a source-level programs list replaces the default', () => {
    const { ctx, events } = collectingContext({ ...src, programs: ['tftpd'] });
    const p = createLineProcessor(ctx);
    p.push('Nov 22 03:33:13 h in.tftpd[1]: RRQ from 10.0.0.1 filename a\nNov 22 03:33:13 h tftpd[2]: RRQ from 10.0.0.2 filename b\n');
    assert.deepEqual(events.map((e) => e.ip), ['10.0.0.2']);
  });
});

describe('chunking', () => {
  const text = readFileSync(path.join(FIX, 'tftpd-hpa-rsyslog.syslog'));
  test('any split of the bytes gives the same events (partial lines buffered)', () => {
    const whole = collectingContext(src);
    createLineProcessor(whole.ctx).push(text);
    const rnd = xorshift(7);
    for (let round = 0; round < 200; round++) {
      const c = collectingContext(src);
      const p = createLineProcessor(c.ctx);
      let i = 0;
      while (i < text.length) {
        const n = 1 + (rnd() % 40);
        p.push(text.subarray(i, i + n));
        i += n;
      }
      assert.deepEqual(c.events.map(stable), whole.events.map(stable));
    }
  });
  test('multi-byte UTF-8 split across chunks survives', () => {
    const line = Buffer.from('Nov 22 03:33:13 h in.tftpd[1]: RRQ from 10.0.0.1 filename é/pxelinux.cfg/0A000001\n');
    const c = collectingContext(src);
    const p = createLineProcessor(c.ctx);
    const at = line.indexOf(0xc3) + 1;
    p.push(line.subarray(0, at));
    p.push(line.subarray(at));
    assert.equal(c.events[0]?.kind === 'seen' && c.events[0].file, 'é/pxelinux.cfg/0A000001');
  });
  test('an incomplete last line waits; discardPartial reports it', () => {
    const c = collectingContext(src);
    const p = createLineProcessor(c.ctx);
    p.push('Nov 22 03:33:13 h in.tftpd[1]: RRQ from 10.0.0.1 filename a');
    assert.equal(c.events.length, 0);
    p.discardPartial('rotated');
    assert.equal(c.bad.length, 1);
    assert.match(c.bad[0]!.reason, /incomplete last line dropped \(rotated\)/);
    p.push('\nNov 22 03:33:13 h in.tftpd[1]: RRQ from 10.0.0.2 filename b\n');
    assert.deepEqual(c.events.map((e) => e.ip), ['10.0.0.2']);
  });
  test('over-long lines are skipped up to their newline and reported', () => {
    const c = collectingContext(src);
    const p = createLineProcessor(c.ctx);
    p.push('Nov 22 03:33:13 h in.tftpd[1]: RRQ from 10.0.0.1 filename ' + 'x'.repeat(70_000));
    p.push('y'.repeat(10_000) + '\nNov 22 03:33:13 h in.tftpd[1]: RRQ from 10.0.0.3 filename c\n');
    assert.equal(c.bad.length, 1);
    assert.ok(c.bad[0]!.sample.length <= 130);
    assert.deepEqual(c.events.map((e) => e.ip), ['10.0.0.3']);
  });
  test('CRLF line ends', () => {
    const c = collectingContext(src);
    createLineProcessor(c.ctx).push('Nov 22 03:33:13 h in.tftpd[1]: RRQ from 10.0.0.1 filename a.b\r\n');
    assert.equal(c.events[0]?.kind === 'seen' && c.events[0].file, 'a.b');
  });
});
