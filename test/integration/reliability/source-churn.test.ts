// Source churn loses no client: while new leases keep arriving, the dnsmasq lease file is deleted,
// re-created, rotated (renamed away, a new file in its place) and truncated-and-rewritten. Every
// client that was ever written ends up ready.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { client, leaseLine, makeLab, rewriteInPlace, writeConfig, type Lease } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { checkConsistent, toStatusNodes } from './invariants.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lease file churn', () => {
  after(cleanupAll);

  test('delete, re-create, rotate, truncate-rewrite while clients arrive: none lost', { timeout: 120_000 }, async () => {
    requireRoot();
    const lab = makeLab('churn');
    const cfg = writeConfig(lab);
    const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd.log'));
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const all: Lease[] = [];
    let next = 1;
    const add = (n: number) => {
      for (let i = 0; i < n; i++) all.push(client(99, next++));
      return all.map((c) => leaseLine(c, expiry)).join('');
    };
    const steps: Array<[string, () => void]> = [
      ['write 5', () => rewriteInPlace(lab.leases, add(5))],
      ['delete the file', () => rmSync(lab.leases)],
      ['re-create with 5 more', () => writeFileSync(lab.leases, add(5))],
      ['rotate: rename away, new file with 5 more', () => {
        renameSync(lab.leases, `${lab.leases}.1`);
        writeFileSync(lab.leases, add(5));
      }],
      ['truncate-and-rewrite with 5 more', () => rewriteInPlace(lab.leases, add(5))],
      ['delete, then re-create at once with 5 more', () => {
        rmSync(lab.leases);
        writeFileSync(lab.leases, add(5));
      }],
      ['rename a temp file over it with 5 more', () => {
        writeFileSync(`${lab.leases}.tmp`, add(5));
        renameSync(`${lab.leases}.tmp`, lab.leases);
      }],
    ];
    for (const [, step] of steps) {
      step();
      await sleep(120);
    }
    const nodes = await waitFor(`all ${all.length} clients ready`, () => {
      const n = toStatusNodes(statusJson(cfg));
      return n.length === all.length && n.every((x) => x.state === 'ready') ? n : undefined;
    }, 30_000, 200).catch((e: Error) => {
      const got = new Set(toStatusNodes(statusJson(cfg)).filter((x) => x.state === 'ready').map((x) => x.ip));
      throw new Error(`${e.message}; missing: ${all.filter((c) => !got.has(c.ip)).map((c) => c.ip).join(' ')}`);
    });
    assert.deepEqual(nodes.map((n) => n.ip).sort(), all.map((c) => c.ip).sort());
    assert.deepEqual(checkConsistent(lab, nodes), []);
    await d.stop();
  });
});
