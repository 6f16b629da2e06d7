// Fuzz: mutated real lines and random bytes through the whole line path (tag scan, syslog parse,
// message parsers, filename identity). No throw, no hang, every event well-formed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLineProcessor } from '../../../../watchers/logs/line-processor.ts';
import { parseSyslogLine } from '../../../../watchers/logs/syslog-line.ts';
import { clientFromTftpFilename } from '../../../../watchers/logs/tftp-filename.ts';
import { isIPv4 } from '../../../../src/validate.ts';
import { collectingContext, xorshift } from './test-context.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/logs');
const seeds = ['tftpd-hpa-rsyslog', 'tftpd-hpa-busybox', 'dnsmasq-edge-cases', 'dnsmasq-log-dhcp']
  .flatMap((n) => readFileSync(path.join(FIX, `${n}.syslog`), 'utf8').split('\n'))
  .filter(Boolean)
  .concat(['May  1 12:34:56 h atftpd[811.140211]: Serving pxelinux.cfg/01-52-54-00-12-34-56 to ::ffff:192.168.1.50:2071']);
const ALPHABET = ' :[]()./-_#\n\r\t\0\xff0123456789abcdefABCDEF:RRQfromfilenameServingsenttoDHCPACK';

function mutate(s: string, rnd: () => number): string {
  let out = s;
  const n = 1 + (rnd() % 4);
  for (let i = 0; i < n; i++) {
    const at = rnd() % (out.length + 1);
    switch (rnd() % 6) {
      case 0: out = out.slice(0, at); break; // truncate
      case 1: out = out.slice(0, at) + out.slice(at + 1 + (rnd() % 8)); break; // delete
      case 2: out = out.slice(0, at) + ALPHABET[rnd() % ALPHABET.length] + out.slice(at); break; // insert
      case 3: out = out.slice(0, at) + String.fromCharCode(rnd() % 0x3000) + out.slice(at + 1); break; // replace
      case 4: out = out.slice(0, at) + out.slice(at).repeat(1 + (rnd() % 3)); break; // repeat tail
      default: out = out.slice(0, at) + seeds[rnd() % seeds.length]!.slice(rnd() % 40) + out.slice(at); break; // splice
    }
  }
  return out;
}

test('fuzz: 120,000 mutated syslog lines, no throw, valid events only', () => {
  const { ctx, events } = collectingContext({ type: 'syslog', path: '/x', from_start: true, programs: [] });
  const p = createLineProcessor(ctx);
  const rnd = xorshift(0x5eed);
  const t0 = Date.now();
  for (let i = 0; i < 120_000; i++) {
    const line = mutate(seeds[rnd() % seeds.length]!, rnd);
    parseSyslogLine(line);
    clientFromTftpFilename(line);
    p.push(line + '\n');
  }
  assert.ok(p.stats.lines >= 120_000);
  assert.ok(events.length > 1000, `mutations should keep many lines valid (got ${events.length})`);
  for (const e of events) {
    if (e.ip !== undefined) assert.ok(isIPv4(e.ip), e.ip);
    if (e.mac !== undefined) assert.match(e.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    if (e.kind === 'seen' && e.file !== undefined) assert.ok(!/[\0\n\r]/.test(e.file));
    if (e.kind === 'seen' && e.hostname !== undefined) assert.match(e.hostname, /^[a-z0-9.-]+$/);
  }
  assert.ok(Date.now() - t0 < 20_000);
});

test('fuzz: 100,000 random byte strings', () => {
  const { ctx } = collectingContext({ type: 'syslog', path: '/x', from_start: true, programs: [] });
  const p = createLineProcessor(ctx);
  const rnd = xorshift(42);
  for (let i = 0; i < 100_000; i++) {
    const b = Buffer.alloc(rnd() % 120);
    for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
    p.push(b);
    parseSyslogLine(b.toString('latin1'));
  }
  assert.ok(p.stats.lines > 0);
});
