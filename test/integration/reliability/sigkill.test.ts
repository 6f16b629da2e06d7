// SIGKILL at random points of a 200-node storm, 20 rounds: after each restart settles, every node is
// ready, every fsid is the one it first got (and the one it was exported with when killed), and there
// are no duplicate export lines (our file, etab) and no orphan or doubled overlay mounts.
// Real overlay mounts and real exportfs; pxebootd runs as a child process, killed by its PID only.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { cleanupAll, requireRoot, requireTool, waitFor } from '../../helpers/lab.ts';
import { bootFile, client, leaseLine, makeLab, rewriteInPlace, type Lease } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { writeConfig } from '../../../bench/lib/lab.ts';
import { checkConsistent, readExports, toStatusNodes, xorshift, type StatusNode } from './invariants.ts';

const NODES = 200;
const ROUNDS = Number(process.env.PXG_ROUNDS ?? 20);
const SEED = Number(process.env.PXG_SEED ?? 20261122);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A loopback port nobody listens on right now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return p;
}

/** "depth=N" when the daemon's queue holds work (scraped from /metrics just before the kill), else "". */
async function queueBusy(port: number): Promise<string> {
  try {
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(300) })).text();
    const depth = Number(/^pxebootd_queue_depth (\S+)$/m.exec(body)?.[1] ?? 0);
    return depth > 0 ? `q${depth}` : '';
  } catch {
    return ''; // not listening yet (killed during start-up)
  }
}

describe('SIGKILL during a 200-node storm', () => {
  after(cleanupAll);

  test(`${ROUNDS} rounds of kill -9 at a random point, restart, settle (seed ${SEED})`, { timeout: 175_000 }, async (t) => {
    requireRoot();
    requireTool('exportfs');
    const rnd = xorshift(SEED);
    const lab = makeLab('sigkill');
    const port = await freePort();
    const cfg = writeConfig(lab, { onRelease: 'unexport', retryBaseMs: 50, retryMaxMs: 500, metrics: `127.0.0.1:${port}` });
    const clients: Lease[] = Array.from({ length: NODES }, (_, i) => client(99, i + 1));
    const fsids = new Map<string, number>();
    const table = (subset: Lease[], expiry: number) => subset.map((c) => leaseLine(c, expiry)).join('');
    let expiry = Math.floor(Date.now() / 1000) + 3600;
    const log = (r: number) => path.join(lab.dir, `pxebootd-${r}.log`);

    let midStorm = 0;
    const killLog: string[] = [];
    let d = await startPxebootd(cfg, lab.socket, log(0));
    for (let round = 1; round <= ROUNDS; round++) {
      // the storm of this round, written by timers so that the kill can land anywhere inside it
      const timers: NodeJS.Timeout[] = [];
      expiry += 60;
      const e = expiry;
      if (round === 1) {
        for (let w = 0; w < 4; w++) timers.push(setTimeout(() => rewriteInPlace(lab.leases, table(clients.slice(0, (w + 1) * 50), e)), w * 100));
      } else {
        // a fresh 200-node storm on the same nodes: every lease goes (on_release: unexport), then all
        // come back within 300 ms: 200 re-exports and boot files, with the fsids they already have
        rewriteInPlace(lab.leases, '');
        await waitFor(`round ${round}: all ${NODES} unexported`, () => readExports(lab.exportsFile).lines.length === 0, 30_000, 50).catch((err: Error) => {
          const st = toStatusNodes(statusJson(cfg));
          const by = new Map<string, number>();
          for (const n of st) by.set(n.state, (by.get(n.state) ?? 0) + 1);
          const tail = readFileSync(log(round - 1), 'utf8').split('\n').slice(-8).join('\n');
          throw new Error(`${err.message}; ${readExports(lab.exportsFile).lines.length} export lines left; states ${JSON.stringify([...by])}; log tail:\n${tail}`);
        });
        for (let w = 0; w < 4; w++) timers.push(setTimeout(() => rewriteInPlace(lab.leases, table(clients.slice(0, (w + 1) * 50), e)), w * 100));
      }
      const killAt = Math.floor(rnd() * 700); // a round's storm takes about 0.5 s here
      await sleep(killAt);
      const busy = await queueBusy(port);
      process.kill(-d.pid, 'SIGKILL');
      await d.exited;
      for (const t of timers) clearTimeout(t);
      // what had been exported when it died must keep its fsid
      const exportedAtKill = new Map(readExports(lab.exportsFile).lines.map((l) => [path.basename(l.path), l.fsid]));
      if (exportedAtKill.size < NODES || busy) midStorm++;
      killLog.push(`${killAt}ms:${exportedAtKill.size}${busy ? `:${busy}` : ''}`);
      rewriteInPlace(lab.leases, table(clients, e)); // the lease file dnsmasq would have by now

      d = await startPxebootd(cfg, lab.socket, log(round));
      let nodes: StatusNode[] = [];
      await waitFor(
          `round ${round} (killed at ${killAt} ms): ${NODES} nodes ready and consistent`,
          () => {
            nodes = toStatusNodes(statusJson(cfg)).filter((n) => n.ip.startsWith('10.99.'));
            if (nodes.length !== NODES) throw new Error(`status lists ${nodes.length} nodes, expected ${NODES}`);
            const problems = checkConsistent(lab, nodes, { fsids, bootFiles: (n) => [bootFile(lab, n.mac ?? '')] });
            if (problems.length) throw new Error(`${problems.length} problems, first: ${problems.slice(0, 5).join('; ')}`);
            return true;
          },
          60_000,
          300,
        );
      for (const n of nodes) {
        if (!fsids.has(n.name)) fsids.set(n.name, n.fsid);
        const was = exportedAtKill.get(n.name);
        assert.ok(was === undefined || was === n.fsid, `round ${round}: ${n.name} was exported with fsid ${was} when killed, now has ${n.fsid}`);
      }
      assert.equal(new Set(nodes.map((n) => n.fsid)).size, NODES, `round ${round}: fsids are not unique`);
    }
    await d.stop();
    assert.equal(fsids.size, NODES);
    // how often the kill landed while exports were missing (kill delay : exports in our file)
    t.diagnostic(`kills in the middle of work (exports missing, or jobs queued/running): ${midStorm} of ${ROUNDS} (delay:exports[:queue] ${killLog.join(' ')})`);
    assert.ok(midStorm >= 1, 'no kill landed in the middle of a storm: the test did not test anything');
  });
});
