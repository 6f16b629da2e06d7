// The boot-once state machine as a table: queue, served/reported/timeout, quarantine, cancel, and
// the loop guard (at most one boot per queued profile; a done profile never comes back).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { activated, cancel, deactivate, describeBootOnce, enqueue, finish, isIdle, issue, onFetch, reportRefusal, selection, timedOut } from '../../../src/boot-once/machine.ts';
import { bootPrograms, isProgramOf, programBaseName } from '../../../src/boot-once/programs.ts';
import { isBootProgram } from '../../../src/daemon/boot-detect.ts';
import type { BootOnceRecord, ProfileConfig } from '../../../src/types.ts';

const PROFILES: Record<string, ProfileConfig> = {
  memtest: { name: 'memtest', pxe_template: '/p/memtest', done_when: 'served', root: 'none' },
  verify: { name: 'verify', pxe_template: '/p/verify', done_when: 'reported', root: 'none', timeout_ms: 60_000 },
};
const GUARD = 30_000;
const fetchOpts = (trusted = true) => ({ isBootStart: isBootProgram, guardMs: GUARD, trusted });

function queued(...names: string[]): BootOnceRecord {
  const r = enqueue(undefined, names);
  assert.ok('bo' in r);
  return r.bo;
}

/** memtest issued (files being written) at t=1000, then activated. */
function memtestActive(): BootOnceRecord {
  return activated(issue(queued('memtest', 'verify'), { now: 1000, programs: ['memtest86+x64.bin', 'memtest86+x64.efi'] }), 1001);
}

describe('boot-once machine', () => {
  test('enqueue: the first profile becomes current, the rest wait; more are appended', () => {
    const bo = queued('memtest', 'verify');
    assert.deepEqual(selection(bo), { kind: 'profile', profile: 'memtest', current: { profile: 'memtest' } });
    assert.deepEqual(bo.queue, ['verify']);
    const more = enqueue(bo, ['memtest']);
    assert.ok('bo' in more);
    assert.deepEqual(more.bo.queue, ['verify', 'memtest']);
    assert.equal(isIdle(undefined), true);
    assert.equal(isIdle(bo), false);
    assert.deepEqual(selection(undefined), { kind: 'production' });
  });

  test('served: the fetch of its program ends it and the next profile is current (BIOS and UEFI names)', () => {
    for (const file of ['memtest86+x64.bin', '/memtest86+x64.efi']) {
      const out = onFetch(memtestActive(), file, 5000, PROFILES, fetchOpts());
      assert.equal(out.kind, 'advanced');
      if (out.kind !== 'advanced') return;
      assert.deepEqual(out.result, { profile: 'memtest', result: 'served', time: 5000, details: { file }, programs: ['memtest86+x64.bin', 'memtest86+x64.efi'] });
      assert.equal(out.bo.current?.profile, 'verify');
      assert.equal(out.bo.current?.issuedAt, undefined, 'the next profile gets its own token when its files are written');
    }
  });

  test('served is not decided before its files were written (token issued), nor by other files', () => {
    const notYet = queued('memtest');
    assert.equal(onFetch(notYet, 'memtest86+x64.bin', 5000, PROFILES, fetchOpts()).kind, 'none');
    for (const f of ['pxelinux.0', 'pxelinux.cfg/01-52-54-00-00-00-01', 'ldlinux.c32', 'memtest86+x64.bin.sig']) {
      assert.equal(onFetch(memtestActive(), f, 5000, PROFILES, fetchOpts()).kind, 'none', f);
    }
  });

  test('an untrusted source (syslog) may mark a served profile done: advancing is not destructive', () => {
    assert.equal(onFetch(memtestActive(), 'memtest86+x64.bin', 5000, PROFILES, fetchOpts(false)).kind, 'advanced');
  });

  test('the last profile done: production', () => {
    const bo = activated(issue(queued('memtest'), { now: 1, programs: ['memtest86+x64.bin'] }), 2);
    const out = onFetch(bo, 'memtest86+x64.bin', 10, PROFILES, fetchOpts());
    assert.ok(out.kind === 'advanced');
    assert.deepEqual(selection(out.bo), { kind: 'production' });
    assert.equal(isIdle(out.bo), true);
  });

  test('reported: pass goes on, fail quarantines (queue dropped); quarantine wins over everything', () => {
    const v = issue(queued('verify', 'memtest'), { now: 100, programs: ['vmlinuz'], tokenHash: 'ab', timeoutMs: 60_000 });
    assert.equal(reportRefusal(v, PROFILES), undefined);
    const pass = finish(v, 'pass', 200, { mem: 'ok' });
    assert.equal(pass.current?.profile, 'memtest');
    assert.deepEqual(pass.results.at(-1), { profile: 'verify', result: 'pass', time: 200, details: { mem: 'ok' }, programs: ['vmlinuz'] });
    const fail = finish(v, 'fail', 200);
    assert.deepEqual(fail.queue, []);
    assert.equal(fail.current, undefined);
    assert.deepEqual(fail.quarantined, { since: 200, profile: 'verify', why: 'reported fail' });
    assert.deepEqual(selection(fail), { kind: 'quarantine' });
    // quarantine is left only by cancel (or release), never by a new queue
    const again = enqueue(fail, ['memtest']);
    assert.ok('error' in again && /quarantined/.test(again.error));
    assert.deepEqual(selection(cancel(fail, 300, 'x')), { kind: 'production' });
  });

  test('a used token: no report is taken once the profile moved on', () => {
    const v = issue(queued('verify'), { now: 100, programs: ['vmlinuz'], tokenHash: 'ab' });
    const done = finish(v, 'pass', 200);
    assert.match(reportRefusal(done, PROFILES)!, /no profile is current/);
    assert.match(reportRefusal(memtestActive(), PROFILES)!, /does not take reports/);
    assert.match(reportRefusal(queued('verify'), PROFILES)!, /no unused token/);
  });

  test('timeout: from the time the files were written; quarantines', () => {
    const v = issue(queued('verify'), { now: 100, programs: ['vmlinuz'], tokenHash: 'ab', timeoutMs: 60_000 });
    assert.equal(v.current?.deadline, 60_100);
    assert.equal(timedOut(v, 60_099), false);
    assert.equal(timedOut(v, 60_100), true);
    const t = finish(v, 'timeout', 60_100);
    assert.equal(t.quarantined?.why, 'no result before its timeout');
    assert.equal(timedOut(t, 1e12), false);
  });

  test('loop guard: a reporting profile booted a second time without a report has had its one boot', () => {
    let bo = activated(issue(queued('verify'), { now: 0, programs: ['vmlinuz'], tokenHash: 'ab' }), 1);
    const booted = onFetch(bo, 'verify/vmlinuz', 1000, PROFILES, fetchOpts());
    assert.equal(booted.kind, 'booted');
    bo = (booted as { bo: BootOnceRecord }).bo;
    // the same boot's repeats (and the pxelinux.0 of the same boot) change nothing
    assert.equal(onFetch(bo, 'verify/vmlinuz', 1000 + GUARD - 1, PROFILES, fetchOpts()).kind, 'none');
    assert.equal(onFetch(bo, 'pxelinux.0', 1000 + GUARD - 1, PROFILES, fetchOpts()).kind, 'none');
    // a boot start well after: the node rebooted without reporting -> quarantine, never a second run
    for (const f of ['pxelinux.0', 'grubx64.efi', 'verify/vmlinuz']) {
      const again = onFetch(bo, f, 1000 + GUARD, PROFILES, fetchOpts());
      assert.equal(again.kind, 'advanced', f);
      assert.ok(again.kind === 'advanced');
      assert.equal(again.result.result, 'rebooted');
      assert.deepEqual(selection(again.bo), { kind: 'quarantine' });
    }
  });

  test('loop guard, untrusted evidence (syslog, journald): a second boot withdraws the profile\'s files (no third boot) but never fails the node', () => {
    let bo = activated(issue(queued('verify', 'memtest'), { now: 0, programs: ['vmlinuz'], tokenHash: 'ab', timeoutMs: 600_000 }), 1);
    const booted = onFetch(bo, 'verify/vmlinuz', 1000, PROFILES, fetchOpts(false));
    assert.equal(booted.kind, 'booted', 'a syslog line may tell the first boot');
    bo = (booted as { bo: BootOnceRecord }).bo;
    for (const f of ['pxelinux.0', 'grubx64.efi', 'verify/vmlinuz']) {
      const again = onFetch(bo, f, 1000 + GUARD, PROFILES, { ...fetchOpts(false), source: 'syslog' });
      // before: 'untrusted-reboot', the verify files stayed and the node booted verify again until its timeout
      assert.equal(again.kind, 'held', f);
      assert.ok(again.kind === 'held');
      const h = again.bo;
      assert.deepEqual(h.current?.held, { since: 1000 + GUARD, file: f, source: 'syslog' });
      // no per-node files: the loaders' fallback, not verify a third time; not quarantined, nothing finished
      assert.deepEqual(selection(h), { kind: 'held', profile: 'verify', current: h.current });
      assert.equal(h.quarantined, undefined);
      assert.deepEqual(h.results, []);
      assert.deepEqual(h.queue, ['memtest']);
      assert.match(describeBootOnce(h)!, /current verify \(rebooted without reporting at .* per syslog, not authoritative: boot files withdrawn, until /);
      // the fallback's retries (pxelinux.0 every few seconds) and more lines change nothing further
      for (const g of ['pxelinux.0', 'verify/vmlinuz', 'grubx64.efi']) assert.equal(onFetch(h, g, 1000 + 5 * GUARD, PROFILES, fetchOpts(false)).kind, 'none', g);
      // its token still counts: a node that is really running verify (the line was forged) reports and goes on
      assert.equal(reportRefusal(h, PROFILES), undefined);
      const passed = finish(h, 'pass', 2e6, { mem: 'ok' });
      assert.deepEqual(selection(passed), { kind: 'profile', profile: 'memtest', current: { profile: 'memtest' } });
      assert.equal(passed.current?.held, undefined);
      // trusted evidence (the dnsmasq hook) of a boot while held still quarantines
      const hook = onFetch(h, 'pxelinux.0', 1000 + 3 * GUARD, PROFILES, fetchOpts(true));
      assert.ok(hook.kind === 'advanced');
      assert.equal(hook.result.result, 'rebooted');
      // the timeout (the daemon's own clock) fails it, and says it had booted again without a report
      assert.equal(timedOut(h, 600_000), true);
      const t = finish(h, 'timeout', 600_000);
      assert.equal(t.quarantined?.why, 'no result before its timeout (it booted again without reporting, per syslog)');
      assert.deepEqual(t.results.at(-1)?.details, { rebootedWithoutReport: { since: 1000 + GUARD, file: f, source: 'syslog' } });
    }
  });

  test('loop guard, untrusted evidence: a node that keeps rebooting without a report, told only by syslog, boots its reporting profile once', () => {
    // boot n: pxelinux.0, then the profile's kernel, 60 s apart, told only by syslog lines
    let bo = activated(issue(queued('verify'), { now: 0, programs: ['vmlinuz'], tokenHash: 'ab', timeoutMs: 7_200_000 }), 1);
    let verifyBoots = 0;
    for (let n = 0; n < 20; n++) {
      const t = 1000 + n * 60_000;
      for (const f of ['pxelinux.0', 'verify/vmlinuz']) {
        // a file the node gets only while the selection is its profile's
        if (f === 'verify/vmlinuz' && selection(bo).kind !== 'profile') continue;
        if (f === 'verify/vmlinuz') verifyBoots++;
        const out = onFetch(bo, f, t + (f === 'pxelinux.0' ? 0 : 5000), PROFILES, fetchOpts(false));
        if (out.kind === 'booted' || out.kind === 'held') bo = out.bo;
        assert.notEqual(out.kind, 'advanced', 'a syslog line never finishes a reporting profile');
      }
    }
    assert.equal(verifyBoots, 1, 'the second boot start is seen before its config: the profile booted once');
    assert.equal(selection(bo).kind, 'held');
    assert.equal(bo.quarantined, undefined);
  });

  test('loop guard: a done profile is never queued again; fetching its program again only rewrites the current files', () => {
    const out = onFetch(memtestActive(), 'memtest86+x64.bin', 5000, PROFILES, fetchOpts());
    assert.ok(out.kind === 'advanced');
    // memtest booted again (old files cached): verify stays current, memtest is not re-queued
    const stale = onFetch(out.bo, 'memtest86+x64.bin', 9000, PROFILES, fetchOpts());
    assert.deepEqual(stale, { kind: 'stale', profile: 'memtest' });
    assert.equal(out.bo.current?.profile, 'verify');
    assert.deepEqual(out.bo.queue, []);
    // in production: nothing at all (the node is out of boot-once)
    const prod = finish(out.bo, 'pass', 9500);
    assert.equal(onFetch(prod, 'memtest86+x64.bin', 10_000, PROFILES, fetchOpts()).kind, 'none');
    // a whole walk: every profile is current once, in order, then production, whatever is fetched
    let bo = queued('memtest', 'verify');
    const seen: string[] = [];
    for (let t = 0; t < 40; t++) {
      const s = selection(bo);
      if (s.kind !== 'profile') break;
      seen.push(s.profile);
      bo = activated(issue(bo, { now: t * 100_000, programs: s.profile === 'memtest' ? ['memtest86+x64.bin'] : ['vmlinuz'], tokenHash: 'x' }), t * 100_000);
      const r = onFetch(bo, s.profile === 'memtest' ? 'memtest86+x64.bin' : 'vmlinuz', t * 100_000 + 1, PROFILES, fetchOpts());
      bo = r.kind === 'advanced' ? r.bo : r.kind === 'booted' ? finish(r.bo, 'pass', t * 100_000 + 2) : bo;
    }
    assert.deepEqual(seen, ['memtest', 'verify']);
    assert.deepEqual(selection(bo), { kind: 'production' });
  });

  test('cancel and release: a current profile is recorded as cancelled; deactivate makes it start over', () => {
    const bo = memtestActive();
    const c = cancel(bo, 7, 'boot-once --cancel')!;
    assert.deepEqual(c.queue, []);
    assert.equal(c.current, undefined);
    assert.deepEqual(c.results.at(-1), { profile: 'memtest', result: 'cancelled', time: 7, details: { why: 'boot-once --cancel' } });
    assert.equal(cancel(undefined, 1, 'x'), undefined);
    assert.deepEqual(deactivate(bo)!.current, { profile: 'memtest' });
    assert.match(describeBootOnce(bo)!, /current memtest \(files written\); queued verify/);
  });

  test('results are bounded', () => {
    let bo = queued(...Array.from({ length: 40 }, () => 'memtest'));
    for (let i = 0; i < 40; i++) bo = finish(bo, 'served', i);
    assert.equal(bo.results.length, 16);
    assert.equal(bo.results.at(-1)!.time, 39);
  });
});

describe('boot programs of a profile template', () => {
  test('pxelinux LINUX/KERNEL, GRUB linux/chainloader, iPXE kernel/chain; variables and options skipped', () => {
    assert.deepEqual(bootPrograms('DEFAULT m\nLABEL m\n  LINUX memtest86+x64.bin\n  APPEND console=ttyS0\n'), ['memtest86+x64.bin']);
    assert.deepEqual(bootPrograms('menuentry x {\n  linux /memtest86+x64.efi console=ttyS0\n}\n'), ['memtest86+x64.efi']);
    assert.deepEqual(bootPrograms('linux (tftp,10.0.0.1)/verify/vmlinuz quiet\ninitrd /verify/i.gz\nchainloader --force /x/shim.efi\n'), ['vmlinuz', 'shim.efi']);
    assert.deepEqual(bootPrograms('#!ipxe\nkernel --name k http://10.0.0.1/verify/vmlinuz?x=1 q\nchain tftp://s/next.ipxe\n'), ['vmlinuz', 'next.ipxe']);
    assert.deepEqual(bootPrograms('KERNEL {{kernel}}\nLINUX k/<NODE>\nkernel ${base}\n'), []);
    assert.equal(programBaseName('a b'), undefined);
    assert.equal(isProgramOf('boot/memtest86+x64.bin', ['memtest86+x64.bin']), true);
    assert.equal(isProgramOf('memtest86+x64.bin', undefined), false);
  });
});
