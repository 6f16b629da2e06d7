// The steps of the cut-file fuzz (dnsmasq-cut-fuzz.test.ts), run in a worker thread so that a parser
// loop that never ends fails the test (the main thread's watchdog terminates this worker) instead of
// hanging it. Before each step the step's number and start time go into shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { buildDnsmasqState, updateDnsmasqState, type DnsmasqState } from '../../../../watchers/leases/dnsmasq-incremental.ts';
import { parseDnsmasqLeases } from '../../../../watchers/leases/dnsmasq-parser.ts';
import type { Lease, LeaseUpdate } from '../../../../watchers/leases/lease.ts';

/** Shared with the test: [0] the running step's number (-1 between steps), [1] 1 when all are done; times[0] its start (Date.now()). */
export interface StepShared {
  ints: Int32Array;
  times: Float64Array;
}

/** The fixtures that are cut at every byte offset. */
export const CUT_FIXTURES = ['dnsmasq-lab.leases', 'dnsmasq-mixed.leases', 'dnsmasq-v4-after-duid.leases'];

function xorshift(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const ALPHABET = ' \n\n:.0123456789abcdef*-duid\r';

/** n random chars: half any byte (latin1), half from the lease-file alphabet, so leases can form. */
function randomText(r: (n: number) => number, n: number): string {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = r(2) ? r(256) : ALPHABET.charCodeAt(r(ALPHABET.length));
  return b.toString('latin1');
}

const plain = (m: ReadonlyMap<string, Lease>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, { ...v }]));

/** Move `state` to `text` and check it (and the updates applied to `tracked`) against a full parse. */
function checkStep(state: DnsmasqState, tracked: Map<string, Lease>, text: string, what: string, timed: (run: () => LeaseUpdate[]) => LeaseUpdate[]): void {
  const updates = timed(() => updateDnsmasqState(state, text, 's', []));
  for (const u of updates) {
    if (u.active) tracked.set(u.ip, { ip: u.ip, mac: u.mac, expires: u.expires, ...(u.hostname !== undefined ? { hostname: u.hostname } : {}) } as Lease);
    else tracked.delete(u.ip);
  }
  const want = plain(parseDnsmasqLeases(text, 's').leases);
  assert.deepEqual(plain(state.leases), want, `${what}: state`);
  assert.deepEqual(plain(tracked), want, `${what}: updates`);
  assert.equal(state.text, text, `${what}: text`);
  const lines = text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  assert.equal(state.starts.length, lines + 1, `${what}: line starts`);
}

/**
 * Every step in order: `step(i, what)` is called just before step i's update and `idle()` just after it
 * (the checks against a full parse are not timed). Returns the step count.
 */
export function runCutSteps(fixtureDir: string, step: (i: number, what: string) => void, idle: () => void = () => {}): number {
  let n = 0;
  const r = xorshift(0xc0ffee);
  let pending = '';
  const begin = (what: string) => (pending = what);
  const check = (state: DnsmasqState, tracked: Map<string, Lease>, text: string, what: string) =>
    checkStep(state, tracked, text, what, (run) => {
      step(n++, pending);
      const u = run();
      idle();
      return u;
    });
  const big = randomText(r, 5 << 20);
  // the line of issue 11 (a full disk during dnsmasq's rewrite), from several earlier texts
  const line = '1900000000 52:54:00:bb:00:01 10.88.0.201 x *';
  for (const before of ['', '1 52:54:00:bb:00:01 10.88.0.201 x *\n', 'junk', `${line}\n`, line.slice(0, 20)]) {
    const s = buildDnsmasqState(before, 's', []);
    const t = new Map(s.leases);
    begin(`${JSON.stringify(before)} -> one line without a newline`);
    check(s, t, line, `${JSON.stringify(before)} -> ${line}`);
    assert.equal(s.leases.get('10.88.0.201')?.expires, 1900000000000);
    begin(`one line without a newline -> the same line with it`);
    check(s, t, `${line}\n`, `${line} + newline`);
  }
  for (const name of CUT_FIXTURES) {
    const full = readFileSync(path.join(fixtureDir, name), 'latin1');
    for (let c = 0; c <= full.length; c++) {
      const cut = full.slice(0, c);
      const junk = cut + randomText(r, 1 + r(40));
      const s = buildDnsmasqState(full, 's', []);
      const t = new Map(s.leases);
      begin(`${name}: whole -> cut at ${c}`);
      check(s, t, cut, `${name} cut at ${c}`);
      begin(`${name}: cut at ${c} -> + random ${JSON.stringify(junk.slice(c))}`);
      check(s, t, junk, `${name} cut at ${c} + random`);
      begin(`${name}: cut at ${c} + random -> whole`);
      check(s, t, full, `${name} back to whole from ${c}`);
      const e = buildDnsmasqState('', 's', []);
      const te = new Map<string, Lease>();
      begin(`${name}: empty -> cut at ${c}`);
      check(e, te, cut, `${name} empty to cut at ${c}`);
      begin(`${name}: cut at ${c} -> cut at ${c} + newline`);
      check(e, te, cut + '\n', `${name} cut at ${c} + newline`);
      begin(`${name}: random bytes inserted at ${c}`);
      check(e, te, cut + randomText(r, 1 + r(40)) + full.slice(c), `${name} random inserted at ${c}`);
      begin(`${name}: whole + cut at ${c} (IPs on two lines: the last one wins)`);
      check(e, te, full + cut, `${name} whole + cut at ${c}`);
      begin(`${name}: whole + cut at ${c} -> cut at ${c}`);
      check(e, te, cut, `${name} back to cut at ${c}`);
    }
  }
  // big garbage: 5 MB of random bytes (as a full disk or a bad copy leaves), then the real file again
  const whole = readFileSync(path.join(fixtureDir, CUT_FIXTURES[1]!), 'latin1');
  const s = buildDnsmasqState(whole, 's', []);
  const t = new Map(s.leases);
  begin('whole -> 5 MB of random bytes');
  check(s, t, big, '5 MB random');
  begin('5 MB of random bytes -> the same with its last byte cut');
  check(s, t, big.slice(0, -1), '5 MB random, cut');
  begin('5 MB of random bytes -> one 1 MB line without a newline');
  check(s, t, 'x'.repeat(1 << 20), '1 MB line');
  begin('1 MB line -> whole');
  check(s, t, whole, 'back to whole');
  return n;
}

if (parentPort && workerData?.shared) {
  const { ints, times } = workerData.shared as StepShared;
  const total = runCutSteps(
    workerData.fixtureDir as string,
    (i) => {
      times[0] = Date.now();
      Atomics.store(ints, 0, i);
    },
    () => Atomics.store(ints, 0, -1),
  );
  Atomics.store(ints, 1, 1);
  parentPort.postMessage({ total });
}
