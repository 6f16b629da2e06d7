import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  hexToIp, intToIp, ipToHex, ipToInt, isIPv4, isSafeNodeName, isValidHostname, macHyphen, normalizeHostname,
  normalizeIPv4, normalizeMac, normalizeUuid, printable, safeJoin,
} from '../../src/validate.ts';
import { xorshiftFloat } from '../helpers/prng.ts';

describe('MACs', () => {
  test('every common notation normalises to lower-case colon form', () => {
    for (const m of ['52:54:00:AB:CD:EF', '52-54-00-ab-cd-ef', '525400ABCDEF', ' 52:54:00:ab:cd:ef ']) assert.equal(normalizeMac(m), '52:54:00:ab:cd:ef', m);
    assert.equal(macHyphen('52:54:00:ab:cd:ef'), '52-54-00-ab-cd-ef');
  });
  test('anything else is rejected', () => {
    for (const m of ['', '52:54:00:ab:cd', '52:54:00:ab:cd:ef:01', '52:54:00:ab:cd:eg', '52.54.00.ab.cd.ef', '5254.00ab.cdef', '52:54:00:ab:cd:ef\n../', '01-52-54-00-ab-cd-ef']) {
      assert.equal(normalizeMac(m), undefined, JSON.stringify(m));
    }
  });
});

describe('IPv4', () => {
  test('strict dotted quads only', () => {
    for (const ip of ['0.0.0.0', '10.0.0.5', '255.255.255.255']) assert.ok(isIPv4(ip), ip);
    for (const ip of ['', '10.0.0', '10.0.0.5.', '10.0.0.256', '010.0.0.5', '10.0.0.05', '1e1.0.0.1', ' 10.0.0.5', '10.0.0.5/24', '0x0a.0.0.1', '-1.0.0.0', '10..0.5']) {
      assert.ok(!isIPv4(ip), ip);
    }
  });
  test('IPv4-mapped IPv6 is accepted by normalizeIPv4', () => {
    assert.equal(normalizeIPv4('::ffff:10.0.0.5'), '10.0.0.5');
    assert.equal(normalizeIPv4('::FFFF:10.0.0.5'), '10.0.0.5');
    assert.equal(normalizeIPv4(' 10.0.0.5 '), '10.0.0.5');
    assert.equal(normalizeIPv4('::1'), undefined);
  });
  test('int and hex conversions round-trip, high bit included', () => {
    assert.equal(ipToInt('255.255.255.255'), 0xffffffff);
    assert.equal(ipToInt('128.0.0.1'), 0x80000001);
    assert.equal(intToIp(0x80000001), '128.0.0.1');
    assert.equal(ipToHex('10.99.0.50'), '0A630032');
    assert.equal(ipToHex('192.168.2.91'), 'C0A8025B');
    assert.equal(hexToIp('C0A8025B'), '192.168.2.91');
    assert.equal(hexToIp('c0a8025b'), '192.168.2.91');
    for (const bad of ['C0A8025', 'C0A8025B0', 'G0A8025B', '']) assert.equal(hexToIp(bad), undefined, bad);
  });
});

describe('host names', () => {
  test('RFC 1123', () => {
    for (const h of ['a', 'bench-07', 'node1.lab.example', 'A1', '0', `${'a'.repeat(63)}.b`]) assert.ok(isValidHostname(h), h);
    for (const h of ['', '-a', 'a-', 'a_b', 'a b', 'a..b', 'a.', '.a', `${'a'.repeat(64)}`, `${'a.'.repeat(126)}ab`, 'a\nb', '../x', '*(rw)', 'a;reboot']) {
      assert.ok(!isValidHostname(h), JSON.stringify(h));
    }
  });
  test('normalizeHostname lower-cases valid names and drops the rest', () => {
    assert.equal(normalizeHostname('Bench-07'), 'bench-07');
    assert.equal(normalizeHostname(' bench '), 'bench');
    for (const h of [undefined, '', '*', 'a b', 'x'.repeat(300), 'a\0b']) assert.equal(normalizeHostname(h), undefined, JSON.stringify(h));
  });
});

describe('other client data', () => {
  test('UUIDs', () => {
    assert.equal(normalizeUuid('B8945908D6A641A9611D74A6AB80B83D'), 'b8945908-d6a6-41a9-611d-74a6ab80b83d');
    assert.equal(normalizeUuid('b8945908-d6a6-41a9-611d-74a6ab80b83d'), 'b8945908-d6a6-41a9-611d-74a6ab80b83d');
    assert.equal(normalizeUuid('b8945908-d6a6-41a9-611d-74a6ab80b83'), undefined);
    assert.equal(normalizeUuid('../../../../etc/passwd/aaaaaaaaaaaaaaa'), undefined);
  });
  test('node-name gate', () => {
    for (const n of ['0A000005', '52-54-00-ab-cd-ef']) assert.ok(isSafeNodeName(n), n);
    for (const n of ['', '.', '..', '-x', '0A/..', 'x', '0A 05', '0A\n', 'a'.repeat(66)]) assert.ok(!isSafeNodeName(n), JSON.stringify(n));
  });
  test('printable escapes control bytes and backslashes, and truncates', () => {
    assert.equal(printable('a\nb\0c\\d\x7f'), 'a\\x0ab\\x00c\\\\d\\x7f');
    assert.equal(printable('x'.repeat(10), 4), 'xxxx…');
  });
});

describe('safeJoin', () => {
  test('joins names under the root', () => {
    assert.equal(safeJoin('/srv/tftp', 'pxelinux.cfg', '01-52-54-00-12-34-56'), '/srv/tftp/pxelinux.cfg/01-52-54-00-12-34-56');
    assert.equal(safeJoin('/srv/tftp/', 'grub/x'), '/srv/tftp/grub/x');
    assert.equal(safeJoin('/srv/tftp'), '/srv/tftp');
  });
  test('refuses every escape', () => {
    for (const n of ['..', '../etc/passwd', 'a/../../b', '/etc/passwd', '', 'a\0b', 'a\nb', 'a\rb', 'x/..']) {
      assert.throws(() => safeJoin('/srv/tftp', n), /unsafe path component|escapes/, JSON.stringify(n));
    }
  });
});

const xorshift = xorshiftFloat;

test('safeJoin gives exactly path.resolve(root, ...names) or throws, for 100,000 generated roots and names', () => {
  const rnd = xorshiftFloat(0x5afe);
  const parts = ['a', 'b.c', '.', '..', '', '/', '//', 'x y', '\0', '\n', '...', '.hidden', 'é'];
  const gen = (max: number) => Array.from({ length: Math.floor(rnd() * max) }, () => parts[Math.floor(rnd() * parts.length)]).join('');
  let fast = 0;
  for (let i = 0; i < 100_000; i++) {
    const root = (rnd() < 0.9 ? '/' : '') + gen(6);
    const names = Array.from({ length: Math.floor(rnd() * 3) }, () => gen(5));
    let got: string | undefined;
    try {
      got = safeJoin(root, ...names);
    } catch {
      continue;
    }
    const want = path.resolve(root, ...names);
    assert.equal(got, want, JSON.stringify({ root, names }));
    const base = path.resolve(root);
    assert.ok(got === base || got.startsWith(base === '/' ? '/' : base + '/'), JSON.stringify({ root, names, got }));
    if (!names.some((n) => n.includes('.') || n.includes('//'))) fast++;
  }
  assert.ok(fast > 1000, `the concatenation path was exercised (${fast} times)`);
});


test('fuzz: 100000 hostile strings never escape the validators', () => {
  const rnd = xorshift(0xc0ffee);
  const alphabet = ['a', 'F', '0', '9', ':', '-', '.', '/', '..', '\\', ' ', '\n', '\r', '\0', '*', '(', ')', ';', '$', '`', "'", '"', 'ff', '::ffff:', '255', '256', '10', 'é', '\u202e'];
  const root = '/srv/pxa-root';
  for (let i = 0; i < 100_000; i++) {
    let s = '';
    const n = Math.floor(rnd() * 16);
    for (let j = 0; j < n; j++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    const mac = normalizeMac(s);
    if (mac !== undefined) assert.match(mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const ip = normalizeIPv4(s);
    if (ip !== undefined) assert.ok(isIPv4(ip) && /^[0-9.]+$/.test(ip));
    const host = normalizeHostname(s);
    if (host !== undefined) assert.match(host, /^[a-z0-9.-]+$/);
    const p = printable(s);
    assert.doesNotMatch(p, /[\x00-\x1f\x7f]/);
    let joined: string | undefined;
    try {
      joined = safeJoin(root, s);
    } catch {
      joined = undefined;
    }
    if (joined !== undefined) assert.ok(joined === root || joined.startsWith(root + path.sep), joined);
  }
});
