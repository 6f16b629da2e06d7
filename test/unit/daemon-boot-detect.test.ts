// A ready node fetching its NBP again is booting again: which names count, the guard against one
// boot's repeated fetches, and what the daemon does (ephemeral: one reset; persistent: timeline only).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { BOOT_GUARD_MS, BOOT_PROGRAM_EXTENSIONS, isBootProgram, isNewBoot } from '../../src/daemon/boot-detect.ts';
import { createFakeRunner } from '../helpers/fake-runner.ts';
import { cleanupAll, tempDir } from '../helpers/lab.ts';
import { harness, makeConfig, memoryLogger, seen, until } from './daemon-fakes.ts';
import type { ClientEvent, Config, NodeRecord } from '../../src/types.ts';
import { matchClient } from '../../src/rules.ts';
import { ruleKeyOf } from '../../src/daemon/records.ts';

after(cleanupAll);
const running: Daemon[] = [];
after(async () => {
  for (const d of running) await d.stop();
});

describe('isBootProgram', () => {
  test('the documented extensions', () => {
    assert.deepEqual([...BOOT_PROGRAM_EXTENSIONS], ['0', 'kpxe', 'pxe', 'efi']);
    assert.equal(BOOT_GUARD_MS, 30_000);
  });
  const yes = ['pxelinux.0', 'lpxelinux.0', 'gpxelinux.0', 'undionly.kpxe', 'ipxe.pxe', 'syslinux.efi', 'grubx64.efi', 'ipxe.efi', 'snponly.efi',
    'bootx64.efi', 'BOOTX64.EFI', 'efi64/syslinux.efi', 'bios/lpxelinux.0', 'a/b/c/ipxe-x86_64.efi', 'shimx64.efi'];
  const no = ['pxelinux.cfg/default', 'pxelinux.cfg/01-52-54-00-12-34-56', 'pxelinux.cfg/0A630032', 'ldlinux.c32', 'vmlinuz', 'vmlinuz-6.1.0',
    'initrd.img-6.1.0', 'grub/grub.cfg', 'grub/grub.cfg-0A630032', 'ipxe/0A630032.ipxe', 'boot.ipxe', 'pxelinux.0/x', '.0', '.efi', 'pxelinux.0.bak',
    'grubx64.efi.signed', ''];
  for (const f of yes) test(`${JSON.stringify(f)} starts a boot`, () => assert.equal(isBootProgram(f), true));
  for (const f of no) test(`${JSON.stringify(f)} does not`, () => assert.equal(isBootProgram(f), false));
});

describe('isNewBoot', () => {
  const t0 = 1_000_000_000_000;
  const ready: NodeRecord = { name: 'N', ip: '10.99.0.5', subnet: '10.99.0.0/24', state: 'ready', fsid: 1, lastSeen: t0, sources: [], readyAt: t0 };
  test('ready, idle, NBP, past the guard: yes', () => assert.equal(isNewBoot(ready, 'pxelinux.0', t0 + 30_000, false, 30_000), true));
  test('within the guard since ready: no', () => assert.equal(isNewBoot(ready, 'pxelinux.0', t0 + 29_999, false, 30_000), false));
  test('within the guard since the last recorded boot: no', () => {
    const n = { ...ready, timeline: [{ time: t0 + 60_000, what: 'boot (persistent: layer kept)' }] };
    assert.equal(isNewBoot(n, 'pxelinux.0', t0 + 61_000, false, 30_000), false);
    assert.equal(isNewBoot(n, 'pxelinux.0', t0 + 90_000, false, 30_000), true);
  });
  test('busy (job queued/running): no', () => assert.equal(isNewBoot(ready, 'pxelinux.0', t0 + 60_000, true, 30_000), false));
  test('not ready, unknown or no file: no', () => {
    for (const state of ['pending', 'failed', 'released'] as const) assert.equal(isNewBoot({ ...ready, state }, 'pxelinux.0', t0 + 60_000, false, 30_000), false);
    assert.equal(isNewBoot(undefined, 'pxelinux.0', t0 + 60_000, false, 30_000), false);
    assert.equal(isNewBoot(ready, undefined, t0 + 60_000, false, 30_000), false);
    assert.equal(isNewBoot(ready, 'pxelinux.cfg/default', t0 + 60_000, false, 30_000), false);
  });
});

describe('daemon: a new boot of a ready node', () => {
  const EPH = '10.99.0.10';
  const PER = '10.99.1.10';
  async function start(preload?: (c: Config) => NodeRecord[]) {
    const dir = tempDir('pxh-boot-');
    const config = makeConfig(dir, {
      subnets: [
        { cidr: '10.99.0.0/24', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', overlay: 'ephemeral' },
        { cidr: '10.99.1.0/24', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', overlay: 'persistent' },
      ],
    });
    if (preload) {
      const nodes = preload(config);
      mkdirSync(config.state_dir, { recursive: true });
      const fsids = Object.fromEntries(nodes.map((n) => [n.name, n.fsid]));
      writeFileSync(path.join(config.state_dir, 'state.json'), JSON.stringify({ version: 1, nextFsid: 2000, fsids, nodes }));
    }
    const h = harness(config.state_dir);
    const { log, lines } = memoryLogger();
    const d = createDaemon({ configFile: config.file, config, log, runner: createFakeRunner(), deps: h.deps, control: false });
    running.push(d);
    await d.start();
    return { d, h, lines };
  }
  const tftp = (ip: string, file: string, time: number): ClientEvent => seen(ip, undefined, { source: 'syslog:/var/log/tftp.log', sourceType: 'syslog', file, time } as never);
  const node = (d: Daemon, ip: string) => d.nodes().find((n) => n.ip === ip)!;
  const ops = (h: ReturnType<typeof harness>, name: string) => h.provisioner.calls.filter((c) => c.node === name).map((c) => (c.policy ? `${c.op} ${c.policy}` : c.op));

  test('ephemeral: one reset (remove, then provision with the same fsid) per boot; repeats and configs do nothing', async () => {
    const { d, h, lines } = await start();
    h.sink().event(seen(EPH, '52:54:00:00:01:10'));
    await until('ready', () => node(d, EPH)?.state === 'ready');
    const name = node(d, EPH).name;
    const fsid = node(d, EPH).fsid;
    const t = Date.now();
    // the first boot's own NBP fetch, right after provisioning: inside the guard
    h.sink().event(tftp(EPH, 'pxelinux.0', t + 500));
    await d.idle();
    assert.deepEqual(ops(h, name), ['provision']);

    // a reboot a minute later (same lease, so no DHCP event at all)
    h.sink().event(tftp(EPH, 'pxelinux.0', t + 60_000));
    await until('reset done', () => ops(h, name).length === 3 && node(d, EPH).state === 'ready');
    // pxelinux fetches again, iPXE chains, the config and kernel follow: all the same boot
    h.sink().event(tftp(EPH, 'pxelinux.0', t + 60_100));
    h.sink().event(tftp(EPH, 'efi64/ipxe.efi', t + 62_000));
    h.sink().event(tftp(EPH, 'pxelinux.cfg/0A63000A', t + 62_100));
    h.sink().event(tftp(EPH, 'vmlinuz-6.1.0', t + 62_200));
    await d.idle();
    await new Promise((r) => setTimeout(r, 20));
    await d.idle();
    assert.deepEqual(ops(h, name), ['provision', 'release remove', 'provision'], 'exactly one reset, in release-then-provision order');
    const provs = h.provisioner.calls.filter((c) => c.op === 'provision' && c.node === name);
    assert.deepEqual(provs.map((c) => c.fsid), [fsid, fsid], 'the fsid never changes');
    const n = node(d, EPH);
    assert.equal(n.state, 'ready');
    assert.equal(n.fsid, fsid);
    const what = n.timeline!.map((x) => x.what);
    const b = what.indexOf('boot (ephemeral reset)');
    assert.ok(b > 0 && what[b - 1] === 'tftp pxelinux.0' && what.slice(b + 1).includes('ready'), what.join(' | '));
    assert.equal(what.filter((w) => w.startsWith('boot (')).length, 1);
    assert.equal(lines.filter((l) => /is booting again \(pxelinux\.0\); resetting its ephemeral layer/.test(String(l.msg))).length, 1);
    assert.equal(lines.filter((l) => /ready with a fresh ephemeral layer/.test(String(l.msg))).length, 1);

    // a config request alone, long after: no boot
    h.sink().event(tftp(EPH, 'pxelinux.cfg/01-52-54-00-00-01-10', t + 200_000));
    await d.idle();
    assert.equal(ops(h, name).length, 3);
  });

  test('persistent: a new boot only goes into the timeline', async () => {
    const { d, h, lines } = await start();
    h.sink().event(seen(PER, '52:54:00:00:02:10'));
    await until('ready', () => node(d, PER)?.state === 'ready');
    const name = node(d, PER).name;
    const t = Date.now();
    h.sink().event(tftp(PER, 'pxelinux.0', t + 60_000));
    h.sink().event(tftp(PER, 'pxelinux.0', t + 61_000));
    await until('timeline', () => (node(d, PER).timeline ?? []).some((x) => x.what === 'boot (persistent: layer kept)'));
    await d.idle();
    assert.deepEqual(ops(h, name), ['provision']);
    assert.equal(node(d, PER).state, 'ready');
    assert.equal(node(d, PER).timeline!.filter((x) => x.what.startsWith('boot (')).length, 1);
    assert.equal(lines.filter((l) => /booting again \(pxelinux\.0\); persistent layer kept/.test(String(l.msg))).length, 1);
  });

  test('after a restart, NBP requests within the guard (a from_start replay) are no boot; later ones are', async () => {
    const old = Date.now() - 3_600_000;
    const rec: NodeRecord = { name: '0A63000B', ip: '10.99.0.11', mac: '52:54:00:00:01:11', subnet: '10.99.0.0/24', state: 'ready', fsid: 1500, lastSeen: old, sources: [], readyAt: old };
    const { d, h } = await start((c) => {
      const m = matchClient({ ip: rec.ip, mac: rec.mac }, c);
      assert.equal(m.kind, 'match');
      return [{ ...rec, ruleKey: ruleKeyOf((m as Extract<typeof m, { kind: 'match' }>).rule) }];
    });
    const t = Date.now();
    h.sink().event(tftp(rec.ip, 'pxelinux.0', t + 10));
    await d.idle();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(ops(h, rec.name), [], 'a replayed line right after start-up resets nothing');
    h.sink().event(tftp(rec.ip, 'pxelinux.0', t + BOOT_GUARD_MS + 1000));
    await until('reset', () => ops(h, rec.name).length === 2 && node(d, rec.ip).state === 'ready');
    assert.deepEqual(ops(h, rec.name), ['release remove', 'provision']);
    assert.equal(node(d, rec.ip).fsid, 1500);
  });
});
