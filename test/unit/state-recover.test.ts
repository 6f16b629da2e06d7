// Rebuilding fsids from the NFS server's view of our exports (state/recover.ts), and refusing
// contradictory state files (state/codec.ts) with one line that names the file and the fix.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { adoptFsids, etabFsid, fsidsFromEtab, fsidsFromExports, readFsidSource, type FsidSource } from '../../src/state/recover.ts';
import { emptyState, mergeFsids, parseFsids, parseState } from '../../src/state/codec.ts';
import { createStateStore } from '../../src/state/store.ts';
import { silentLogger } from '../../src/log.ts';
import { parseKernelExports, renderKernelExports, scanEtab } from '../../provisioners/exports-kernel.ts';
import { GANESHA_MAX_ID, parseGaneshaExports, renderGaneshaExports } from '../../provisioners/exports-ganesha.ts';
import type { ExportEntry } from '../../provisioners/export-entry.ts';
import { cleanupAll, tempDir } from '../helpers/lab.ts';
import { readFsidsOnDisk } from '../helpers/fsids-on-disk.ts';

after(cleanupAll);

const ND = '/srv/pxe/node';
const dirs = new Set([ND]);
const entry = (node: string, fsid: number, dir = ND): ExportEntry => ({ node, path: `${dir}/${node}`, ip: `10.99.0.${(fsid % 200) + 2}`, fsid });
const OPTS = 'rw,no_root_squash,no_subtree_check,sync';
/** A line of /var/lib/nfs/etab as exportfs -r wrote it for one of our kernel lines (captured). */
const etabLine = (p: string, ip: string, fsid: number) =>
  `${p}\t${ip}(rw,sync,wdelay,hide,nocrossmnt,secure,no_root_squash,no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,fsid=${fsid},anonuid=65534,anongid=65534,sec=sys,rw,no_root_squash,no_all_squash)\n`;
const src = (pairs: Array<[string, number]>, high = Math.max(0, ...pairs.map((p) => p[1]))): FsidSource => ({ from: 'x.exports', fsids: new Map(pairs), high, skipped: [], ambiguous: [] });

describe('fsids from the exports', () => {
  test('kernel drop-in: every line below a node_dir is adopted; other paths and names are not ours', () => {
    const text =
      renderKernelExports([entry('0A630010', 10004), entry('0A630011', 10001), entry('0A630012', 10007)], OPTS) +
      // an admin line in our file, a path below another dir, a path whose last component is no node name
      `/srv/other/0A630013 10.99.0.19(${OPTS},fsid=10050)\n/srv/pxe/node/etc 10.99.0.20(${OPTS},fsid=10060)\n/home 10.99.0.0/24(rw)\n`;
    const r = fsidsFromExports('f', parseKernelExports(text).entries, dirs);
    assert.deepEqual([...r.fsids].sort(), [['0A630010', 10004], ['0A630011', 10001], ['0A630012', 10007]]);
    assert.equal(r.high, 10007, 'only fsids of ours count for the next new fsid');
    assert.deepEqual(r.skipped, []);
  });

  test('Ganesha EXPORT blocks (with a pseudo root) give Export_Id per node', () => {
    const es = [entry('0A630010', 3), { ...entry('52-54-00-aa-bb-cc', 65535), pseudo: '/pxe/52-54-00-aa-bb-cc' }];
    const text = renderGaneshaExports(es) + 'EXPORT { Export_Id = 9; Path = "/srv/data"; Pseudo = "/data"; Access_Type = RW; }\n';
    const r = fsidsFromExports('g', parseGaneshaExports(text).entries, dirs, GANESHA_MAX_ID);
    assert.deepEqual([...r.fsids].sort(), [['0A630010', 3], ['52-54-00-aa-bb-cc', 65535]]);
    assert.equal(r.high, 65535);
  });

  test('etab: only entries below our node_dirs with an fsid option', () => {
    const text =
      etabLine(`${ND}/0A630010`, '10.99.0.16', 10000) +
      etabLine(`${ND}/0A630011`, '10.99.0.17', 10003) +
      etabLine('/export/home', '10.0.0.0/8', 77777) +
      `${ND}/0A630012\t10.99.0.18(rw,sync,no_root_squash)\n` + // no fsid: nothing to recover
      etabLine(`${ND}/..`, '10.99.0.19', 99999);
    const r = fsidsFromEtab('/var/lib/nfs/etab', scanEtab(Buffer.from(text)), dirs);
    assert.deepEqual([...r.fsids].sort(), [['0A630010', 10000], ['0A630011', 10003]]);
    assert.equal(r.high, 10003);
    assert.equal(etabFsid('rw,fsid=12,sec=sys'), 12);
    assert.equal(etabFsid('rw,fsid=root'), undefined);
    assert.equal(etabFsid('rw,xfsid=12'), undefined);
  });

  test('an fsid on two nodes, or a node with two fsids, is not adopted (but still counts for the next fsid)', () => {
    const text =
      etabLine(`${ND}/0A630010`, '10.99.0.16', 10000) +
      etabLine(`${ND}/0A630011`, '10.99.0.17', 10000) +
      etabLine(`${ND}/0A630012`, '10.99.0.18', 10001) +
      etabLine(`${ND}/0A630012`, '10.99.0.99', 10009) +
      etabLine(`${ND}/0A630013`, '10.99.0.19', 10002) +
      etabLine(`${ND}/0A630013`, '10.99.0.20', 10002); // the same fsid twice (two clients): fine
    const r = fsidsFromEtab('etab', scanEtab(Buffer.from(text)), dirs);
    assert.deepEqual([...r.fsids], [['0A630013', 10002]]);
    assert.equal(r.high, 10009);
    assert.equal(r.skipped.length, 3, r.skipped.join('; '));
  });

  test('adopting: names the state files do not know get their fsid; the state files win where they disagree', () => {
    const d = emptyState(10000);
    d.fsids.set('0A630010', 10000);
    d.fsids.set('0A630011', 10001);
    d.nextFsid = 10002;
    const a = adoptFsids(d, src([['0A630010', 10000], ['0A630011', 10005], ['0A630012', 10001], ['0A630013', 10003], ['0A630014', 10020]]));
    assert.equal(a.adopted, 2);
    assert.deepEqual([...a.data.fsids].sort(), [['0A630010', 10000], ['0A630011', 10001], ['0A630013', 10003], ['0A630014', 10020]]);
    assert.deepEqual(
      a.overruled.map((o) => [o.node, o.fsid, o.holder]),
      [['0A630011', 10005, undefined], ['0A630012', 10001, '0A630011']],
    );
    assert.equal(a.data.nextFsid, 10021, 'the next new fsid is above every recovered one');
    assert.equal(d.fsids.size, 2, 'the input is not changed');
    // an fsid on two exports (one a node state knows) is ambiguous: not adopted, but the other
    // export holds a known node's fsid, which the daemon must know to unexport it
    const amb = fsidsFromEtab('etab', scanEtab(Buffer.from(etabLine(`${ND}/0A630010`, '10.99.0.16', 10000) + etabLine(`${ND}/0A6300FA`, '10.99.0.250', 10000))), dirs);
    const b = adoptFsids(d, amb);
    assert.equal(b.adopted, 0);
    assert.deepEqual(b.overruled.map((o) => [o.node, o.fsid, o.holder]), [['0A6300FA', 10000, '0A630010']]);
    assert.deepEqual(b.skipped, ['0A6300FA: fsid 10000 is also on 0A630010'], 'a node state knows is not reported as getting a new fsid');
    // a source whose highest fsid is not adoptable still raises the mark
    assert.equal(adoptFsids(emptyState(10000), { ...src([]), high: 10400 }).data.nextFsid, 10401);
  });
});

describe('contradictory state files', () => {
  const rec = (name: string, fsid: number) => ({ name, ip: '10.99.0.9', subnet: '10.99.0.0/16', state: 'ready', fsid, lastSeen: 1, sources: [] });
  const text = (fsids: Record<string, number>, nodes: unknown[]) => JSON.stringify({ version: 1, nextFsid: 10010, fsids, nodes });
  const refused = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: Error & { code?: string }) => {
      assert.equal(e.code, 'STATE');
      assert.match(e.message, re);
      assert.match(e.message, /restore .* from a backup, or move it away/);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });

  test('two records with one fsid name both nodes', () => {
    refused(() => parseState('/s/state.json', text({}, [rec('A1', 10003), rec('B2', 10004), rec('C3', 10003)]), 10000), /^\/s\/state\.json: fsid 10003 is used by nodes A1 and C3 \(nodes\[0\] and nodes\[2\]\)/);
  });

  test('the fsids map giving one fsid to two names, or a record another fsid than the map', () => {
    refused(() => parseState('s.json', text({ A1: 10003, B2: 10003 }, []), 10000), /fsid 10003 is used by nodes A1 and B2/);
    refused(() => parseState('s.json', text({ A1: 10003 }, [rec('A1', 10004)]), 10000), /node A1 has fsid 10004 in nodes\[0\] but 10003 in fsids/);
    refused(() => parseState('s.json', text({ A1: 10003 }, [rec('B2', 10003)]), 10000), /fsid 10003 is used by nodes A1 \(fsids\) and B2/);
    refused(() => parseState('s.json', text({}, [rec('A1', 10003), rec('A1', 10005)]), 10000), /node A1 is listed twice \(nodes\[0\] and nodes\[1\]\)/);
  });

  test('wrong types and broken JSON name the field or the line and column', () => {
    refused(() => parseState('s.json', text({ A1: -4 }, []), 10000), /fsids\.A1: expected an integer >= 1/);
    refused(() => parseState('s.json', text({}, [rec('A1', 1.5)]), 10000), /nodes\[0\]\.fsid: expected an integer >= 0/);
    refused(() => parseState('s.json', JSON.stringify({ version: 1, nextFsid: 'x', nodes: [] }), 10000), /nextFsid: expected an integer/);
    refused(() => parseState('s.json', JSON.stringify({ version: 1, fsids: [], nodes: [] }), 10000), /fsids: expected an object/);
    refused(() => parseState('s.json', '{"version":1,\n"nodes":[1 2]}', 10000), /^s\.json:2:12: not valid JSON \(Expected ',' or ']'/);
    refused(() => parseState('s.json', '{"version":1,\n"nodes":[', 10000), /^s\.json:2:10: not valid JSON \(Unexpected end/);
    refused(() => parseState('s.json', '{"version":1,\n"nodes":[}\u0000', 10000), /^s\.json: not valid JSON \(Unexpected token '\}'\);/);
    refused(() => parseFsids('f.json', '{"version":1,"nextFsid":5,"fsids":{"A1":3,"B2":3}}'), /^f\.json: fsid 3 is used by nodes A1 and B2/);
  });

  test('state.json and fsids.json that disagree are refused, naming both', () => {
    const d = parseState('/s/state.json', text({ A1: 10003 }, [rec('B2', 10004)]), 10000);
    refused(() => mergeFsids(d, { nextFsid: 10005, fsids: new Map([['A1', 10009]]) }, { state: '/s/state.json', fsids: '/s/fsids.json' }), /^\/s\/fsids\.json: node A1 has fsid 10009 here but 10003 in \/s\/state\.json/);
    refused(() => mergeFsids(d, { nextFsid: 10005, fsids: new Map([['C3', 10004]]) }, { state: '/s/state.json', fsids: '/s/fsids.json' }), /fsid 10004 is used by nodes C3 here and B2 in \/s\/state\.json/);
    // one knowing names the other does not yet is the normal lag between the two writes
    assert.equal(mergeFsids(d, { nextFsid: 10010, fsids: new Map([['A1', 10003], ['C3', 10008]]) }).fsids.get('C3'), 10008);
  });
});

describe('the store with a recovery source', () => {
  const log = silentLogger();
  const open = (dir: string) => createStateStore({ dir, startFsid: 10000, log, lazyMs: 5, retryMs: 20 });

  test('with both files lost, load() adopts the exports file fsids, reports them and writes them out', async () => {
    const dir = tempDir('pxe-recover-');
    const exportsFile = path.join(dir, 'pxebootd.exports');
    writeFileSync(exportsFile, renderKernelExports([entry('0A630010', 10007), entry('0A630011', 10002)], OPTS));
    const s = open(path.join(dir, 'state'));
    await s.load(() => readFsidSource({ backend: 'kernel', exportsFile, etab: path.join(dir, 'no-etab'), nodeDirs: dirs }));
    assert.deepEqual(s.recovery(), { from: exportsFile, adopted: 2, overruled: [], skipped: [] });
    const atLoad = JSON.parse(readFileSync(path.join(dir, 'state', 'fsids.json'), 'utf8')) as { fsids: Record<string, number> };
    assert.deepEqual(atLoad.fsids, { '0A630010': 10007, '0A630011': 10002 }, 'the adopted fsids are in fsids.json from the start');
    assert.equal(s.fsidFor('0A630010'), 10007);
    assert.equal(s.fsidFor('0A630011'), 10002);
    assert.equal(s.fsidFor('0A630012'), 10008, 'a new node gets an fsid above every recovered one');
    await s.commit();
    await s.close();
    assert.deepEqual(readFsidsOnDisk(path.join(dir, 'state')).fsids, { '0A630010': 10007, '0A630011': 10002, '0A630012': 10008 });
    const snapshot = JSON.parse(readFileSync(path.join(dir, 'state', 'fsids.json'), 'utf8')) as { fsids: Record<string, number> };
    assert.deepEqual(snapshot.fsids, { '0A630010': 10007, '0A630011': 10002, '0A630012': 10008 }, 'a clean stop folds the journal into fsids.json');
  });

  test('without our exports file, etab is the source (kernel); Ganesha reads its own blocks', async () => {
    const dir = tempDir('pxe-recover-');
    const etab = path.join(dir, 'etab');
    writeFileSync(etab, etabLine(`${ND}/0A630010`, '10.99.0.16', 10011) + etabLine('/elsewhere/0A630011', '10.99.0.17', 10012));
    const none = path.join(dir, 'missing.exports');
    const k = await readFsidSource({ backend: 'kernel', exportsFile: none, etab, nodeDirs: dirs });
    assert.deepEqual(k && { from: k.from, fsids: [...k.fsids] }, { from: etab, fsids: [['0A630010', 10011]] });
    // a file with nothing of ours (only a header) falls through to etab too
    writeFileSync(none, renderKernelExports([], OPTS));
    assert.equal((await readFsidSource({ backend: 'kernel', exportsFile: none, etab, nodeDirs: dirs }))?.from, etab);

    const g = path.join(dir, 'ganesha.conf');
    writeFileSync(g, renderGaneshaExports([entry('0A630010', 40)]));
    const r = await readFsidSource({ backend: 'ganesha', exportsFile: g, etab, nodeDirs: dirs });
    assert.deepEqual(r && [...r.fsids], [['0A630010', 40]]);
    assert.equal(await readFsidSource({ backend: 'ganesha', exportsFile: none, etab, nodeDirs: dirs }), undefined, 'Ganesha never reads the kernel etab');
    assert.equal(await readFsidSource({ backend: 'kernel', exportsFile: none, etab, nodeDirs: new Set() }), undefined, 'no node_dir: nothing is ours');
  });

  test('a source that cannot be read does not stop load(); the state files alone are used', async () => {
    const dir = tempDir('pxe-recover-');
    const s = open(dir);
    await s.load(() => Promise.reject(new Error('EACCES')));
    assert.equal(s.recovery(), undefined);
    assert.equal(s.fsidFor('0A630010'), 10000);
  });
});
