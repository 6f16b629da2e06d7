// The whole pipeline with real parts: a real DHCP client (busybox udhcpc, in a client namespace)
// gets a lease from a real dnsmasq; `pxebootd run` follows dnsmasq's lease file and makes the node
// ready; the overlay is mounted with nfs_export=on, the export is live (kernel: exactly one etab
// line with the client's IP and fsid; Ganesha: listed by showmount and readable over NFS from the
// client namespace); a real TFTP client fetches pxelinux.cfg/01-<mac> with the right nfsroot=.
// Then pxebootd restarts, and nothing changes: same fsid, same export, same files, one mount.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, requireRoot, requireTool, sh, waitFor, type NetnsPair } from '../../helpers/lab.ts';
import { runUdhcpc, startDnsmasq } from '../../helpers/dnsmasq.ts';
import { makeSharedSubtree, startGanesha, type GaneshaHandle } from '../../helpers/ganesha.ts';
import { setClientAddress, tftpGet } from '../../helpers/tftpd.ts';
import { makeLab, writeConfig, type BenchLab } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { readEtab, readMounts, toStatusNodes, type StatusNode } from '../reliability/invariants.ts';

const CLI_MAC = '52:54:00:aa:bb:01';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface World {
  lab: BenchLab;
  pair: NetnsPair;
  cfg: string;
  ip: string;
}

/** Namespaces, dnsmasq (DHCP + TFTP of our tftp_root), the lab; `ganesha` set-up runs before pxebootd's config. */
async function setUp(tag: string, ganesha: boolean): Promise<World & { g?: GaneshaHandle }> {
  requireRoot();
  for (const t of ['dnsmasq', 'busybox', 'exportfs']) requireTool(t);
  const lab = makeLab(tag);
  // dnsmasq serves TFTP as "nobody": the path down to tftp_root must be traversable
  for (const d of [lab.dir, lab.tftpRoot, path.join(lab.tftpRoot, 'pxelinux.cfg')]) chmodSync(d, 0o755);
  const pair = makeNetnsPair('pxg', { cliMac: CLI_MAC });
  const dns = await startDnsmasq({ netns: pair.srv, subnet: '10.99.0', tftpRoot: lab.tftpRoot });
  lab.leases = dns.leaseFile;
  let g: GaneshaHandle | undefined;
  let cfg: string;
  if (ganesha) {
    for (const t of ['ganesha.nfsd', 'showmount', 'nfs-ls']) requireTool(t);
    makeSharedSubtree(lab.nodeDir);
    const exportsFile = path.join(lab.dir, 'pxebootd-ganesha.conf');
    writeFileSync(exportsFile, '');
    g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile });
    cfg = writeConfig(lab, { backend: { kind: 'ganesha', file: exportsFile, pidFile: g.pidFile, pseudoRoot: '/nodes' } });
  } else {
    cfg = writeConfig(lab);
  }
  return { lab, pair, cfg, ip: '', g };
}

async function waitReady(w: World, log: string) {
  return waitFor(`node ${w.ip} ready (log ${log})`, () => toStatusNodes(statusJson(w.cfg)).find((n) => n.ip === w.ip && n.state === 'ready'), 20_000, 100);
}

/** udhcpc's script may already have put the leased address on the interface. */
function ensureAddress(w: World): void {
  if (!sh('ip', ['-n', w.pair.cli, '-4', 'addr', 'show', 'dev', w.pair.cliIf]).includes(` ${w.ip}/`)) setClientAddress(w.pair.cli, w.pair.cliIf, `${w.ip}/24`);
}

function bootFileVia(w: World): string {
  const r = tftpGet(w.pair.cli, w.pair.srvIp, `pxelinux.cfg/01-${CLI_MAC.replace(/:/g, '-')}`);
  assert.ok(r.ok, `TFTP fetch failed: ${r.error}`);
  return r.data!.toString('utf8');
}

function snapshot(w: World, n: StatusNode, exportsFile: string) {
  return {
    fsid: n.fsid,
    exports: readFileSync(exportsFile, 'utf8'),
    boot: readFileSync(path.join(w.lab.tftpRoot, 'pxelinux.cfg', `01-${CLI_MAC.replace(/:/g, '-')}`), 'utf8'),
    mounts: readMounts(w.lab.nodeDir).map((m) => m.mountPoint),
    etab: readEtab(w.lab.nodeDir).map((l) => `${l.path} ${l.ip} ${l.fsid}`),
  };
}

describe('pipeline: real lease -> pxebootd -> mount, export, TFTP', () => {
  after(cleanupAll);

  test('kernel backend: etab, nfs_export=on, TFTP boot file; restart changes nothing', { timeout: 120_000 }, async () => {
    const w = await setUp('pipe-k', false);
    const logs = [path.join(w.lab.dir, 'pxebootd-1.log'), path.join(w.lab.dir, 'pxebootd-2.log')];
    let d = await startPxebootd(w.cfg, w.lab.socket, logs[0]!);
    w.ip = (await runUdhcpc(w.pair.cli, { hostname: 'cli1' })).ip;
    const n = await waitReady(w, logs[0]!);
    assert.equal(n.mac, CLI_MAC);
    assert.equal(n.hostname, 'cli1');
    const mp = path.join(w.lab.nodeDir, n.name);
    const m = readMounts(w.lab.nodeDir).filter((x) => x.mountPoint === mp);
    assert.equal(m.length, 1, 'exactly one mount');
    assert.equal(m[0]!.fstype, 'overlay');
    assert.match(m[0]!.superOptions, /(^|,)nfs_export=on(,|$)/);
    const etab = readEtab(w.lab.nodeDir).filter((l) => l.path === mp);
    assert.equal(etab.length, 1, `etab lines for ${mp}: ${JSON.stringify(etab)}`);
    assert.equal(etab[0]!.ip, w.ip);
    assert.equal(etab[0]!.fsid, n.fsid);
    ensureAddress(w);
    const boot = bootFileVia(w);
    assert.match(boot, new RegExp(`nfsroot=10\\.99\\.255\\.254:${mp.replace(/[.]/g, '\\.')}( |$)`, 'm'));
    const before = snapshot(w, n, w.lab.exportsFile);

    await d.stop();
    d = await startPxebootd(w.cfg, w.lab.socket, logs[1]!);
    const again = await waitReady(w, logs[1]!);
    await sleep(1000); // let any (unexpected) rewrite happen before comparing
    assert.deepEqual(snapshot(w, again, w.lab.exportsFile), before);
    assert.equal(bootFileVia(w), boot);
    await d.stop();
  });

  test('ganesha backend: listed and readable from the client, TFTP boot file; restart changes nothing', { timeout: 120_000 }, async () => {
    const w = await setUp('pipe-g', true);
    const exportsFile = path.join(w.lab.dir, 'pxebootd-ganesha.conf');
    const logs = [path.join(w.lab.dir, 'pxebootd-1.log'), path.join(w.lab.dir, 'pxebootd-2.log')];
    let d = await startPxebootd(w.cfg, w.lab.socket, logs[0]!);
    w.ip = (await runUdhcpc(w.pair.cli, { hostname: 'cli1' })).ip;
    const n = await waitReady(w, logs[0]!);
    const mp = path.join(w.lab.nodeDir, n.name);
    const m = readMounts(w.lab.nodeDir).filter((x) => x.mountPoint === mp);
    assert.equal(m.length, 1);
    assert.match(m[0]!.superOptions, /(^|,)nfs_export=on(,|$)/);
    const blocks = readFileSync(exportsFile, 'utf8').split('\n').filter((l) => l.startsWith('EXPORT'));
    assert.equal(blocks.length, 1, blocks.join('\n'));
    assert.ok(blocks[0]!.includes(`Path = "${mp}"`) && blocks[0]!.includes(`Clients = ${w.ip};`) && blocks[0]!.includes(`Export_Id = ${n.fsid};`), blocks[0]);

    ensureAddress(w);
    await waitFor('showmount lists the node', () => w.g!.showmount(w.pair.cli).includes(mp), 10_000, 200);
    const ls = spawnSync('ip', ['netns', 'exec', w.pair.cli, 'nfs-ls', `nfs://${w.pair.srvIp}/nodes/${n.name}?version=4`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, /\betc\b/, `nfs-ls of the node root: ${ls.stdout}`);
    const boot = bootFileVia(w);
    assert.match(boot, new RegExp(`nfsroot=10\\.99\\.255\\.254:/nodes/${n.name}[ ,]`, 'm'));
    const before = snapshot(w, n, exportsFile);

    await d.stop();
    d = await startPxebootd(w.cfg, w.lab.socket, logs[1]!);
    const again = await waitReady(w, logs[1]!);
    await sleep(1000);
    assert.deepEqual(snapshot(w, again, exportsFile), before);
    assert.ok(w.g!.showmount(w.pair.cli).includes(mp), 'still listed after the restart');
    assert.equal(bootFileVia(w), boot);
    await d.stop();
  });
});
