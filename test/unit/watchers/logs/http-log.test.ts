// The http-log source, minus the file: captured nginx lines (combined and main) give the events in
// the fixture; hostile request targets (.., %2e%2e, %2f, %00, bad escapes, control bytes, queries,
// overlong) are refused or normalised as nginx does; cut and over-long lines are reported.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHttpLogProcessor } from '../../../../watchers/logs/http-log-watcher.ts';
import { eventFromAccessLine, fileOfTarget, isCountedStatus, urlPrefixOf } from '../../../../watchers/logs/http-log-events.ts';
import { parseAccessLine } from '../../../../watchers/logs/http-access-line.ts';
import { MAX_LINE_BYTES } from '../../../../watchers/logs/line-splitter.ts';
import { isBootProgram, isNewBoot } from '../../../../src/daemon/boot-detect.ts';
import { describeSeen, extendTimeline } from '../../../../src/daemon/records.ts';
import { isAuthoritative, SOURCE_TRUST } from '../../../../src/trust.ts';
import type { NodeRecord } from '../../../../src/types.ts';
import { collectingContext } from './test-context.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/logs');
const src = (format: 'combined' | 'nginx') => ({ type: 'http-log' as const, path: '/var/log/nginx/pxebootd-access.log', from_start: true, format });
const opts = { source: 'http-log:x', format: 'combined' as const, urlPrefix: '', now: () => 1000 };
const line = (ip: string, req: string, status = 200) => `${ip} - - [04/Dec/2026:21:37:03 +0000] "${req}" ${status} 3 "-" "curl/7.88.1"`;

describe('http-log on captured nginx lines', () => {
  const want = JSON.parse(readFileSync(path.join(FIX, 'nginx-access.expected.json'), 'utf8')) as { events: unknown[]; bad: unknown[] };
  for (const [file, format] of [['nginx-combined', 'combined'], ['nginx-main', 'nginx']] as const) {
    test(`${file}.access with format ${format}`, () => {
      const c = collectingContext(src(format));
      createHttpLogProcessor(c.ctx).push(readFileSync(path.join(FIX, `${file}.access`)));
      assert.deepEqual(c.events.map((e) => ({ ip: e.ip, ...(e.mac ? { mac: e.mac } : {}), file: e.kind === 'seen' ? e.file : undefined })), want.events);
      assert.deepEqual(c.bad.map((b) => ({ line: b.line, reason: b.reason })), want.bad);
      for (const e of c.events) {
        assert.equal(e.kind, 'seen');
        assert.equal(e.sourceType, 'http-log');
        assert.equal(e.source, 'http-log:/var/log/nginx/pxebootd-access.log');
      }
    });
  }
  test('nginx main lines under format: combined are each reported, never read', () => {
    const c = collectingContext(src('combined'));
    createHttpLogProcessor(c.ctx).push(readFileSync(path.join(FIX, 'nginx-main.access')));
    assert.equal(c.events.length, 0);
    assert.ok(c.bad.length > 20);
    assert.match(c.bad[0]!.reason, /3 quoted fields after the status \(combined has 2\)/);
  });
});

describe('access line parser', () => {
  test('Apache escapes (\\" and \\\\) and nginx escapes (\\x22) both unescape', () => {
    const a = parseAccessLine('10.0.0.5 - bob [x] "GET /a\\"b\\\\c HTTP/1.1" 200 3 "-" "UA \\"q\\""', 'combined');
    assert.ok(a.ok && a.line.request === 'GET /a"b\\c HTTP/1.1');
    const n = parseAccessLine('10.0.0.5 - - [x] "GET /a\\x22b HTTP/1.1" 200 3 "-" "evil\\x22 200 1 \\x22-\\x22 \\x22x"', 'combined');
    assert.ok(n.ok && n.line.request === 'GET /a"b HTTP/1.1');
  });
  test('a user field with spaces and brackets does not shift the fields', () => {
    const r = parseAccessLine('10.0.0.5 - a [b] c [04/Dec/2026:21:37:03 +0000] "GET /pxelinux.0 HTTP/1.1" 200 3 "-" "-"', 'combined');
    assert.ok(r.ok && r.line.status === 200 && r.line.request === 'GET /pxelinux.0 HTTP/1.1');
  });
  for (const [name, text] of [
    ['cut in the request', '10.0.0.5 - - [x] "GET /pxelin'],
    ['cut in the user agent', '10.0.0.5 - - [x] "GET /pxelinux.0 HTTP/1.1" 200 3 "-" "curl/7'],
    ['no time', '10.0.0.5 - - "GET /pxelinux.0 HTTP/1.1" 200 3 "-" "-"'],
    ['lone backslash', '10.0.0.5 - - [x] "GET /a\\ HTTP/1.1" 200 3 "-" "-"'],
    ['no status', '10.0.0.5 - - [x] "GET /pxelinux.0 HTTP/1.1" "-" "-"'],
    ['text after the last field', '10.0.0.5 - - [x] "GET /pxelinux.0 HTTP/1.1" 200 3 "-" "-" extra'],
    ['common log format (no referer/agent)', '10.0.0.5 - - [x] "GET /pxelinux.0 HTTP/1.1" 200 3'],
    ['four quoted fields', '10.0.0.5 - - [x] "GET /pxelinux.0 HTTP/1.1" 200 3 "-" "-" "-" "-"'],
    ['empty', ''],
  ] as const) {
    test(`refused: ${name}`, () => {
      assert.equal(parseAccessLine(text, 'nginx').ok, false);
      const r = eventFromAccessLine(text, opts);
      assert.equal(r.event, undefined);
      assert.ok(r.bad, 'reported');
    });
  }
  test('linear on a hostile line of many "[" and quotes-free bytes', () => {
    const text = `10.0.0.5 ${' ['.repeat(30_000)}`;
    const t0 = performance.now();
    assert.equal(parseAccessLine(text, 'nginx').ok, false);
    assert.ok(performance.now() - t0 < 500);
  });
});

describe('request target -> tftp_root file', () => {
  const cases: Array<[string, string, ReturnType<typeof fileOfTarget>]> = [
    ['/pxelinux.0', '', { file: 'pxelinux.0' }],
    ['//debian/./../debian//vmlinuz', '', { file: 'debian/vmlinuz' }],
    ['/debian/vmlinuz?x=1&y=%22', '', { file: 'debian/vmlinuz' }],
    ['/%70xelinux%2e0', '', { file: 'pxelinux.0' }],
    ['/pxelinux.cfg%2F01-52-54-00-aa-bb-17', '', { file: 'pxelinux.cfg/01-52-54-00-aa-bb-17' }],
    ['http://10.99.7.1/pxelinux.0', '', { file: 'pxelinux.0' }],
    ['/tftp/grub/grub.cfg', '/tftp', { file: 'grub/grub.cfg' }],
    ['/other/grub/grub.cfg', '/tftp', { ignore: true }],
    ['/tftp', '/tftp', { ignore: true }],
    ['/tftpx/a', '/tftp', { ignore: true }],
    ['/tftp/../pxelinux.0', '/tftp', { ignore: true }],
    ['/debian/', '', { ignore: true }],
    ['/../../etc/passwd', '', { bad: 'request target that leaves the server root ("..")' }],
    ['/%2e%2e/%2e%2e/etc/passwd', '', { bad: 'request target that leaves the server root ("..")' }],
    ['/a/..%2f..%2fetc/passwd', '', { bad: 'request target that leaves the server root ("..")' }],
    ['/a%00b', '', { bad: 'request target that decodes to control characters' }],
    ['/a%0ab', '', { bad: 'request target that decodes to control characters' }],
    ['/%ff%fe', '', { bad: 'request target with a malformed percent-escape or invalid UTF-8' }],
    ['/%c0%ae%c0%ae/etc/passwd', '', { bad: 'request target with a malformed percent-escape or invalid UTF-8' }],
    ['/a%2', '', { bad: 'request target with a malformed percent-escape or invalid UTF-8' }],
    ['/a%zz', '', { bad: 'request target with a malformed percent-escape or invalid UTF-8' }],
    ['/pxelinux.0\x01', '', { bad: 'request target with bytes outside printable ASCII' }],
    ['/p\xe9.0', '', { bad: 'request target with bytes outside printable ASCII' }],
    ['/a#b', '', { bad: 'request target with a "#"' }],
    ['*', '', { bad: 'request target is not a path' }],
    [`/${'A'.repeat(3000)}`, '', { bad: 'request target longer than 2048 bytes' }],
  ];
  for (const [target, prefix, want] of cases) {
    test(`${JSON.stringify(target.slice(0, 60))} under ${JSON.stringify(prefix)}`, () => assert.deepEqual(fileOfTarget(target, prefix), want));
  }
  test('urlPrefixOf takes http_base\'s path', () => {
    assert.equal(urlPrefixOf(undefined), '');
    assert.equal(urlPrefixOf('http://10.0.0.1'), '');
    assert.equal(urlPrefixOf('http://boot.example:8080/tftp'), '/tftp');
    assert.equal(urlPrefixOf('https://[fd00::1]/a/b'), '/a/b');
  });
  test('an http-log source follows http_base\'s path', () => {
    const c = collectingContext(src('combined'), { http_base: 'http://10.99.0.1/tftp' });
    createHttpLogProcessor(c.ctx).push(`${line('10.99.0.5', 'GET /tftp/pxelinux.0 HTTP/1.1')}\n${line('10.99.0.5', 'GET /pxelinux.0 HTTP/1.1')}\n`);
    assert.deepEqual(c.events.map((e) => (e.kind === 'seen' ? e.file : '')), ['pxelinux.0']);
  });
});

describe('which lines are fetches', () => {
  test('status: 2xx, 3xx and 404 count; 400, 403, 405, 5xx do not', () => {
    for (const s of [200, 206, 301, 304, 404]) assert.ok(isCountedStatus(s), String(s));
    for (const s of [400, 401, 403, 405, 408, 414, 499, 500, 503]) assert.ok(!isCountedStatus(s), String(s));
  });
  for (const [name, text] of [
    ['HEAD', line('10.0.0.5', 'HEAD /pxelinux.0 HTTP/1.1')],
    ['POST', line('10.0.0.5', 'POST /pxelinux.0 HTTP/1.1')],
    ['HTTP/0.9', line('10.0.0.5', 'GET /pxelinux.0')],
    ['403', line('10.0.0.5', 'GET /pxelinux.0 HTTP/1.1', 403)],
    ['IPv6 client', line('fd00::5', 'GET /pxelinux.0 HTTP/1.1')],
    ['unix socket peer', line('unix:', 'GET /pxelinux.0 HTTP/1.1')],
    ['a scanner\'s garbage request', line('10.0.0.5', '\\x16\\x03\\x01\\x02\\x00\\x01', 400)],
  ] as const) {
    test(`no event, nothing reported: ${name}`, () => assert.deepEqual(eventFromAccessLine(text, opts), {}));
  }
  test('an IPv4-mapped client counts as its IPv4 address; a garbage address is reported', () => {
    assert.equal(eventFromAccessLine(line('::ffff:10.0.0.5', 'GET /pxelinux.0 HTTP/1.1'), opts).event?.ip, '10.0.0.5');
    assert.match(eventFromAccessLine(line('10.0.0.999', 'GET /pxelinux.0 HTTP/1.1'), opts).bad!.reason, /not an IPv4 address/);
  });
  test('the event: address from the server, file relative, MAC claimed by a pxelinux/GRUB name only', () => {
    assert.deepEqual(eventFromAccessLine(line('10.0.0.5', 'GET /grub/grub.cfg-01-52-54-00-AA-BB-17 HTTP/1.1', 404), opts), {
      event: { kind: 'seen', ip: '10.0.0.5', source: 'http-log:x', sourceType: 'http-log', time: 1000, file: 'grub/grub.cfg-01-52-54-00-AA-BB-17', mac: '52:54:00:aa:bb:17' },
    });
    assert.equal(eventFromAccessLine(line('10.0.0.5', 'GET /pxelinux.cfg/0A000063 HTTP/1.1'), opts).event?.ip, '10.0.0.5');
  });
});

describe('an HTTP fetch in the daemon', () => {
  const ready: NodeRecord = { name: '0A000005', ip: '10.0.0.5', subnet: '10.0.0.0/24', state: 'ready', fsid: 1, lastSeen: 0, sources: [], readyAt: 0 };
  test('a boot program over HTTP is a new boot; a kernel or config fetch is not', () => {
    const nbp = eventFromAccessLine(line('10.0.0.5', 'GET /ipxe/snponly.efi HTTP/1.1'), { ...opts, now: () => 60_000 }).event!;
    assert.ok(isBootProgram(nbp.file!));
    assert.ok(isNewBoot(ready, nbp.file, nbp.time, false, 30_000));
    const k = eventFromAccessLine(line('10.0.0.5', 'GET /debian/vmlinuz HTTP/1.1'), { ...opts, now: () => 60_000 }).event!;
    assert.equal(isNewBoot(ready, k.file, k.time, false, 30_000), false);
  });
  test('the timeline says http FILE, and an HTTP fetch after a new lease starts a new boot like a TFTP one', () => {
    const e = eventFromAccessLine(line('10.0.0.5', 'GET /debian/vmlinuz HTTP/1.1'), opts).event!;
    assert.equal(describeSeen(e), 'http debian/vmlinuz');
    let t = extendTimeline(undefined, { time: 1, what: 'dnsmasq-leases seen', source: 'l' });
    t = extendTimeline(t, { time: 2, what: 'tftp pxelinux.0', source: 's' });
    t = extendTimeline(t, { time: 3, what: 'dnsmasq-leases seen', source: 'l' });
    t = extendTimeline(t, { time: 4, what: 'http debian/vmlinuz', source: 'h' });
    assert.deepEqual(t.map((x) => x.what), ['dnsmasq-leases seen', 'http debian/vmlinuz']);
  });
  test('trust: http-log may provision, never release', () => {
    assert.equal(SOURCE_TRUST['http-log'].provision, true);
    assert.equal(isAuthoritative('http-log'), false);
  });
});

describe('lines as bytes', () => {
  test('an over-long line is reported once and skipped to its newline; the next line counts', () => {
    const c = collectingContext(src('combined'));
    const p = createHttpLogProcessor(c.ctx);
    p.push(`10.0.0.5 - - [x] "GET /${'A'.repeat(MAX_LINE_BYTES)}`);
    p.push(`${'B'.repeat(1000)} HTTP/1.1" 200 3 "-" "-"\n${line('10.0.0.6', 'GET /pxelinux.0 HTTP/1.1')}\n`);
    assert.deepEqual(c.bad.map((b) => b.reason), [`line longer than ${MAX_LINE_BYTES} bytes skipped`]);
    assert.deepEqual(c.events.map((e) => e.ip), ['10.0.0.6']);
  });
  test('a line split across reads is one line; one cut by rotation is dropped and reported', () => {
    const c = collectingContext(src('combined'));
    const p = createHttpLogProcessor(c.ctx);
    const l = `${line('10.0.0.7', 'GET /pxelinux.0 HTTP/1.1')}\n`;
    p.push(l.slice(0, 20));
    p.push(l.slice(20));
    p.push(l.slice(0, 30));
    p.discardPartial('rotated');
    assert.deepEqual(c.events.map((e) => e.ip), ['10.0.0.7']);
    assert.match(c.bad[0]!.reason, /incomplete last line dropped \(rotated\)/);
    assert.equal(c.bad[0]!.line, 2);
  });
});
