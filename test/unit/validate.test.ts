import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  hexToIp, hostnameError, intToIp, ipToHex, ipToInt, ipv4Error, isHostname, isIPv4, isIPv4At, isLowerHostnameAt, isLowerMacAt,
  isMac, isSafeNodeName, macError, macHyphen, normalizeHostname, normalizeIPv4, normalizeMac, normalizeUuid, printable, safeJoin,
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
    for (const h of ['a', 'bench-07', 'node1.lab.example', 'A1', '0', `${'a'.repeat(63)}.b`]) assert.ok(isHostname(h), h);
    for (const h of ['', '-a', 'a-', 'a_b', 'a b', 'a..b', 'a.', '.a', `${'a'.repeat(64)}`, `${'a.'.repeat(126)}ab`, 'a\nb', '../x', '*(rw)', 'a;reboot']) {
      assert.ok(!isHostname(h), JSON.stringify(h));
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

describe('one meaning per name', () => {
  // The reference forms the fast paths must agree with.
  const refIPv4 = (s: string): boolean => {
    const parts = s.split('.');
    return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
  };
  const refMac = (s: string): string | undefined => {
    const t = s.trim();
    if (/^[0-9a-f]{12}$/i.test(t)) return t.toLowerCase().match(/../g)!.join(':');
    const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(t);
    return m ? m.slice(1, 7).join(':').toLowerCase() : undefined;
  };

  test('isX is a boolean, xError is a message or undefined, normalizeX is the canonical form', () => {
    assert.equal(isMac('52-54-00-AB-CD-EF'), true);
    assert.equal(isMac('52:54:00:ab:cd'), false);
    assert.equal(macError('52:54:00:ab:cd:ef'), undefined);
    assert.match(macError('nope')!, /expected a MAC address .*found "nope"/);
    assert.equal(ipv4Error('10.0.0.1'), undefined);
    assert.match(ipv4Error('010.0.0.1')!, /expected a dotted-quad IPv4 address .*found "010.0.0.1"/);
    assert.equal(hostnameError('Bench-07'), undefined);
    assert.match(hostnameError('a_b')!, /expected an RFC 1123 host name .*found "a_b"/);
  });

  test('the in-place variants agree with the whole-string ones on a slice of a larger text', () => {
    const text = 'x 52:54:00:ab:cd:ef 10.0.0.5 node-1.lab y';
    assert.ok(isLowerMacAt(text, 2, 19));
    assert.ok(!isLowerMacAt('52:54:00:AB:cd:ef', 0, 17), 'upper case needs normalising, so not "lower"');
    assert.ok(isIPv4At(text, 20, 28));
    assert.ok(!isIPv4At(text, 20, 27) === !isIPv4('10.0.0.'));
    assert.ok(isLowerHostnameAt(text, 29, 39));
    assert.ok(!isLowerHostnameAt(text, 28, 39), 'a leading space is not a name');
  });

  test('fuzz: fast paths and reference forms give the same answers', () => {
    const rnd = xorshift(0xfeed5);
    const alphabet = ['0', '1', '2', '5', '9', '00', '25', '255', '256', '.', ':', '-', 'a', 'F', 'e', 'z', 'A', ' ', '\n', '\0', '*', '_', 'ab:cd'];
    for (let i = 0; i < 200_000; i++) {
      let s = '';
      const n = Math.floor(rnd() * 20);
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      assert.equal(isIPv4(s), refIPv4(s), JSON.stringify(s));
      assert.equal(isIPv4At(`<${s}>`, 1, s.length + 1), refIPv4(s), JSON.stringify(s));
      assert.equal(normalizeMac(s), refMac(s), JSON.stringify(s));
      assert.equal(isLowerMacAt(s, 0, s.length), refMac(s) === s, JSON.stringify(s));
      assert.equal(isLowerHostnameAt(s, 0, s.length), isHostname(s) && s === s.toLowerCase(), JSON.stringify(s));
    }
    // Valid-looking inputs are rare in random text: run the well-formed shapes too.
    for (let i = 0; i < 20_000; i++) {
      const o = Array.from({ length: 6 }, () => Math.floor(rnd() * 256).toString(16).padStart(2, '0'));
      const mac = o.map((x) => (rnd() < 0.3 ? x.toUpperCase() : x)).join(rnd() < 0.5 ? ':' : '-');
      assert.equal(normalizeMac(mac), refMac(mac), mac);
      const ip = Array.from({ length: 4 }, () => String(Math.floor(rnd() * 300))).join('.');
      assert.equal(isIPv4(ip), refIPv4(ip), ip);
    }
  });

  test('no MAC, IPv4 or hostname validator is defined outside src/validate.ts', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(root + dir, { withFileTypes: true })) {
        const rel = `${dir}/${e.name}`;
        if (e.isDirectory()) walk(rel);
        else if (e.name.endsWith('.ts') && rel !== 'src/validate.ts') {
          const text = readFileSync(root + rel, 'utf8');
          for (const m of text.matchAll(/export (?:function|const) ((?:check|is|normalize|valid)\w*(?:Mac|IPv4|Ipv4|Hostname)\w*)/g)) offenders.push(`${rel}: ${m[1]}`);
        }
      }
    };
    for (const d of ['src', 'watchers', 'provisioners']) walk(d);
    assert.deepEqual(offenders, []);
  });
});
