// A simulated server reboot: with pxebootd stopped, every overlay is unmounted and our lines leave
// etab (our exports file emptied + `exportfs -r`, as after a reboot before pxebootd starts). Then
// pxebootd starts: every node its state calls ready is mounted and exported again, same fsid.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, sh, waitFor } from '../../helpers/lab.ts';
import { bootFile, client, leaseLine, makeLab, rewriteInPlace, unmountAll, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { checkConsistent, readEtab, readMounts, toStatusNodes } from './invariants.ts';

const NODES = 30;

describe('simulated server reboot', () => {
  after(cleanupAll);

  test(`${NODES} ready nodes come back with the same fsids`, { timeout: 120_000 }, async () => {
    requireRoot();
    const lab = makeLab('reboot');
    const cfg = writeConfig(lab);
    const clients = Array.from({ length: NODES }, (_, i) => client(99, i + 1));
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    let d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-1.log'));
    rewriteInPlace(lab.leases, clients.map((c) => leaseLine(c, expiry)).join(''));
    const first = await waitFor('all ready', () => {
      const n = toStatusNodes(statusJson(cfg));
      return n.length === NODES && n.every((x) => x.state === 'ready') && checkConsistent(lab, n).length === 0 ? n : undefined;
    }, 60_000, 200);
    const fsids = new Map(first.map((n) => [n.name, n.fsid]));
    await d.stop();

    // the reboot: no overlays, no exports of ours in etab
    unmountAll(lab.nodeDir);
    writeFileSync(lab.exportsFile, '');
    sh('exportfs', ['-r'], { allowFail: true });
    assert.equal(readMounts(lab.nodeDir).length, 0);
    assert.equal(readEtab(lab.nodeDir).length, 0);

    d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-2.log'));
    const back = await waitFor('all restored', () => {
      const n = toStatusNodes(statusJson(cfg));
      return n.length === NODES && checkConsistent(lab, n, { fsids }).length === 0 ? n : undefined;
    }, 60_000, 200);
    for (const n of back) assert.equal(n.fsid, fsids.get(n.name), `${n.name} fsid`);
    assert.equal(readMounts(lab.nodeDir).filter((m) => m.fstype === 'overlay' && /nfs_export=on/.test(m.superOptions)).length, NODES);
    const etab = readEtab(lab.nodeDir);
    assert.equal(etab.length, NODES);
    for (const l of etab) assert.equal(l.fsid, fsids.get(path.basename(l.path)), `etab fsid of ${l.path}`);
    for (const c of clients) assert.ok(existsSync(bootFile(lab, c.mac)), `boot file of ${c.mac}`);
    await d.stop();
  });
});
