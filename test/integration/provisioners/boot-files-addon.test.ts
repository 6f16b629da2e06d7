// A node's boot files through the boot-files addon (build/bootfiles.node: one thread-pool call per
// node) and through the synchronous fallback used when the addon cannot load: the same results on
// real files for both. Temp + rename (a planted temp name is skipped, never followed or written),
// unchanged content is not rewritten, only pxebootd's own files and links are replaced, nothing is
// read or written through a link or waits on a FIFO, a conflict stops the node's later files, and
// no descriptor is left open.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireTool, sh, tempDir } from '../../helpers/lab.ts';
import { ensureBootFiles, ensureFile, ensureLink, useBootFilesAddon } from '../../../provisioners/boot-files-apply.ts';
import { tempNameFor } from '../../../src/atomic-file.ts';
import { loadAddon } from '../../../src/native.ts';
import { ConflictError } from '../../../src/errors.ts';

after(cleanupAll);

const MARKED = '# pxebootd: generated for node 0A630002 (10.99.0.2); do not edit, pxebootd rewrites it\nDEFAULT linux\n';
const NEWER = MARKED + 'LABEL linux\n';
let base: string;
let seq = 0;

function freshDir(): string {
  const d = path.join(base, `t${++seq}`, 'pxelinux.cfg');
  mkdirSync(d, { recursive: true });
  return d;
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** The next temp names writes of `file` will try (the sequence is per process). */
function nextTemps(file: string, n: number): string[] {
  const cur = path.basename(tempNameFor(file, 'tmp')).split('.');
  const at = parseInt(cur[cur.length - 2]!, 16);
  return Array.from({ length: n }, (_, i) => {
    const parts = [...cur];
    parts[parts.length - 2] = ((at + 1 + i) >>> 0).toString(16).padStart(8, '0');
    return path.join(path.dirname(file), parts.join('.'));
  });
}

before(() => {
  requireTool('mkfifo');
  base = tempDir('pxd-bootaddon-');
  const a = loadAddon('bootfiles', 'boot files');
  // the addon is built by `npm run build` (scripts/build-native.sh); CI builds it, so its absence is a failure
  assert.ok('mod' in a, 'why' in a ? a.why : '');
});

for (const mode of ['addon', 'fallback'] as const) {
  describe(`boot files through the ${mode}`, () => {
    before(() => {
      const was = useBootFilesAddon(mode === 'addon');
      onCleanup('boot files: back to the addon', () => void useBootFilesAddon(was));
    });
    after(() => void useBootFilesAddon(true));

    test('a node\'s file and link in one go; the same again changes nothing (same inodes); new content is a new inode', async () => {
      const dir = freshDir();
      const fds = openFds();
      const file = path.join(dir, '01-52-54-00-00-00-02');
      const link = path.join(dir, '0A630002');
      assert.deepEqual(await ensureBootFiles([{ path: file, content: MARKED }, { path: link, target: path.basename(file) }]), [true, true]);
      assert.equal(readFileSync(file, 'utf8'), MARKED);
      assert.equal((statSync(file).mode & 0o7777).toString(8), '644');
      assert.equal(readlinkSync(link), path.basename(file));
      const ino = statSync(file).ino;
      assert.deepEqual(await ensureBootFiles([{ path: file, content: MARKED }, { path: link, target: path.basename(file) }]), [false, false]);
      assert.equal(statSync(file).ino, ino, 'unchanged content is not rewritten');
      assert.equal(await ensureFile(file, NEWER), true);
      assert.equal(readFileSync(file, 'utf8'), NEWER);
      assert.notEqual(statSync(file).ino, ino, 'rewritten by rename, not in place');
      assert.deepEqual(readdirSync(dir).sort(), ['01-52-54-00-00-00-02', '0A630002'], 'no temp file left');
      assert.equal(openFds(), fds, 'no descriptor left open');
    });

    test('a missing boot directory is created (0755, with its parents)', async () => {
      const dir = path.join(base, `t${++seq}`, 'deep', 'pxelinux.cfg');
      assert.equal(await ensureFile(path.join(dir, '01-52-54-00-00-00-02'), MARKED), true);
      assert.equal((statSync(dir).mode & 0o777).toString(8), '755');
    });

    test('files planted at the next temp names (a file, a link to a host file) are skipped, neither followed nor written', async () => {
      const dir = freshDir();
      const file = path.join(dir, '01-52-54-00-00-00-02');
      const victim = path.join(base, `victim-${++seq}`);
      writeFileSync(victim, 'host file\n');
      const [t1, t2] = nextTemps(file, 2);
      writeFileSync(t1!, 'planted\n');
      symlinkSync(victim, t2!);
      assert.equal(await ensureFile(file, MARKED), true);
      assert.equal(readFileSync(file, 'utf8'), MARKED);
      assert.equal(readFileSync(t1!, 'utf8'), 'planted\n');
      assert.equal(readFileSync(victim, 'utf8'), 'host file\n');
      assert.ok(lstatSync(t2!).isSymbolicLink());
    });

    test('a marked file and a link to one of our names are replaced; a foreign file, a link elsewhere, a directory are conflicts left as they were', async () => {
      const dir = freshDir();
      const file = path.join(dir, '01-52-54-00-00-00-02');
      writeFileSync(file, MARKED.replace('DEFAULT', 'OLD'));
      assert.equal(await ensureFile(file, MARKED), true);
      assert.equal(readFileSync(file, 'utf8'), MARKED);
      const link = path.join(dir, '0A630002');
      symlinkSync('01-52-54-00-00-00-09', link);
      assert.equal(await ensureLink(link, '01-52-54-00-00-00-02'), true);
      assert.equal(readlinkSync(link), '01-52-54-00-00-00-02');

      const foreign = path.join(dir, '01-52-54-00-00-00-03');
      writeFileSync(foreign, 'DEFAULT admin\n');
      await assert.rejects(ensureFile(foreign, MARKED), (e: Error) => e instanceof ConflictError && /01-52-54-00-00-00-03 exists and is not a pxebootd file or link \(no marker line\)/.test(e.message));
      assert.equal(readFileSync(foreign, 'utf8'), 'DEFAULT admin\n');
      const elsewhere = path.join(dir, '0A630003');
      symlinkSync('/etc/passwd', elsewhere);
      await assert.rejects(ensureLink(elsewhere, '01-52-54-00-00-00-03'), /0A630003 exists and is not a pxebootd file or link; not replacing it/);
      assert.equal(readlinkSync(elsewhere), '/etc/passwd');
      const asDir = path.join(dir, '01-52-54-00-00-00-04');
      mkdirSync(asDir);
      await assert.rejects(ensureFile(asDir, MARKED), /01-52-54-00-00-00-04 exists and is not a pxebootd file/);
      assert.ok(statSync(asDir).isDirectory());
    });

    test('a link at the name to a host file with the same size and content is a conflict: never read through it', async () => {
      const dir = freshDir();
      const victim = path.join(base, `victim-${++seq}`);
      writeFileSync(victim, MARKED);
      const file = path.join(dir, '01-52-54-00-00-00-02');
      symlinkSync(victim, file);
      await assert.rejects(ensureFile(file, MARKED), /exists and is not a pxebootd file or link/);
      assert.ok(lstatSync(file).isSymbolicLink());
      assert.equal(readFileSync(victim, 'utf8'), MARKED);
    });

    test('a FIFO at the name (size 0, content empty) is a conflict at once: nothing waits on it', async () => {
      const dir = freshDir();
      const file = path.join(dir, '01-52-54-00-00-00-02');
      sh('mkfifo', [file]);
      onCleanup(`unblock ${file}`, () => {
        try {
          closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
        } catch {
          /* no reader */
        }
      });
      const t0 = performance.now();
      await assert.rejects(ensureFile(file, ''), /exists and is not a pxebootd file/);
      assert.ok(performance.now() - t0 < 10_000, 'settled promptly');
      assert.ok(lstatSync(file).isFIFO());
    });

    test('the boot directory as a link to a host directory: conflict naming what is there, nothing written behind it', async () => {
      const root = path.join(base, `t${++seq}`);
      const host = path.join(root, 'host');
      mkdirSync(host, { recursive: true });
      symlinkSync(host, path.join(root, 'pxelinux.cfg'));
      await assert.rejects(
        ensureBootFiles([{ path: path.join(root, 'pxelinux.cfg', '01-52-54-00-00-00-02'), content: MARKED }]),
        (e: Error) => e instanceof ConflictError && /boot directory .*pxelinux\.cfg is a symbolic link \(to ".*host"\), not a directory/.test(e.message),
      );
      assert.deepEqual(readdirSync(host), []);
    });

    test('a conflict at the file stops the node: its link is not made', async () => {
      const dir = freshDir();
      const fds = openFds();
      const file = path.join(dir, '01-52-54-00-00-00-02');
      writeFileSync(file, 'DEFAULT admin\n');
      const link = path.join(dir, '0A630002');
      await assert.rejects(ensureBootFiles([{ path: file, content: MARKED }, { path: link, target: path.basename(file) }]), ConflictError);
      assert.ok(!existsSync(link) && !readdirSync(dir).includes('0A630002'));
      assert.equal(openFds(), fds, 'no descriptor left open');
    });

    test('items in two directories (a GRUB file beside a pxelinux one) each land in their own', async () => {
      const root = path.join(base, `t${++seq}`);
      const a = path.join(root, 'pxelinux.cfg', '01-52-54-00-00-00-02');
      const b = path.join(root, 'grub', 'grub.cfg-01-52-54-00-00-00-02');
      const c = path.join(root, 'pxelinux.cfg', '0A630002');
      assert.deepEqual(await ensureBootFiles([{ path: a, content: MARKED }, { path: b, content: NEWER }, { path: c, target: path.basename(a) }]), [true, true, true]);
      assert.equal(readFileSync(b, 'utf8'), NEWER);
      assert.equal(readlinkSync(c), path.basename(a));
    });
  });
}

describe('many nodes at once through the addon', () => {
  /** The addon's thread-pool calls made while `fn` runs (async_hooks sees each as a "pxebootd:bootfiles" resource). */
  async function countCalls<T>(fn: () => Promise<T>): Promise<{ value: T; calls: number }> {
    const { createHook } = await import('node:async_hooks');
    let calls = 0;
    const hook = createHook({ init: (_id, type) => void (type === 'pxebootd:bootfiles' && calls++) }).enable();
    try {
      return { value: await fn(), calls };
    } finally {
      hook.disable();
    }
  }
  const marked = (i: number) => MARKED.replace('0A630002', `0A63${i.toString(16).padStart(4, '0').toUpperCase()}`);
  const items = (dir: string, i: number) => [
    { path: path.join(dir, `01-52-54-00-01-${(i >> 8).toString(16).padStart(2, '0')}-${(i & 255).toString(16).padStart(2, '0')}`), content: marked(i) },
    { path: path.join(dir, `0A63${i.toString(16).padStart(4, '0').toUpperCase()}`), target: `01-52-54-00-01-${(i >> 8).toString(16).padStart(2, '0')}-${(i & 255).toString(16).padStart(2, '0')}` },
  ];

  test('200 nodes at once share a few addon calls (not one each), and each node gets its own answer', async () => {
    const was = useBootFilesAddon(true);
    onCleanup('boot files: addon state', () => void useBootFilesAddon(was));
    const dir = freshDir();
    const fds = openFds();
    const { value, calls } = await countCalls(() => Promise.all(Array.from({ length: 200 }, (_, i) => ensureBootFiles(items(dir, i)))));
    assert.ok(calls <= 10, `expected the 200 nodes' runs (400 ops) in at most 10 calls, found ${calls}`);
    assert.deepEqual(value, Array.from({ length: 200 }, () => [true, true]));
    for (let i = 0; i < 200; i++) {
      const [f, l] = items(dir, i);
      assert.equal(readFileSync(f!.path, 'utf8'), marked(i));
      assert.equal(readlinkSync(l!.path), (l as { target: string }).target);
    }
    assert.equal(readdirSync(dir).length, 400, 'no temp file left');
    assert.equal(openFds(), fds, 'no descriptor left open');
  });

  test('a conflict, a file to judge and a refused name among many nodes: those nodes alone fail or are judged, every other node is written', async () => {
    const was = useBootFilesAddon(true);
    onCleanup('boot files: addon state', () => void useBootFilesAddon(was));
    const dir = freshDir();
    const all = Array.from({ length: 60 }, (_, i) => items(dir, i));
    writeFileSync(all[10]![0]!.path, 'DEFAULT admin\n'); // foreign: a conflict, its link not made
    writeFileSync(all[20]![0]!.path, marked(20).replace('DEFAULT', 'OLD')); // ours: judged, then replaced
    mkdirSync(all[30]![1]!.path); // a directory at the link's name: a conflict after the file is written
    const bad = [{ path: path.join(dir, '0A63FFFF'), target: 'a\0b' }]; // refused by the addon (a TypeError)
    const runs = [...all.map((it) => ensureBootFiles(it).then((v) => ({ v }), (e: Error) => ({ e }))), ensureBootFiles(bad).then((v) => ({ v }), (e: Error) => ({ e }))];
    const out = await Promise.all(runs);
    for (let i = 0; i < 60; i++) {
      const r = out[i]!;
      if (i === 10 || i === 30) {
        assert.ok('e' in r && r.e instanceof ConflictError, `node ${i}: expected a conflict, found ${JSON.stringify(r)}`);
        continue;
      }
      assert.ok('v' in r, `node ${i}: ${'e' in r ? r.e.message : ''}`);
      assert.deepEqual(r.v, [true, true], `node ${i}`);
      assert.equal(readFileSync(all[i]![0]!.path, 'utf8'), marked(i));
    }
    assert.equal(readFileSync(all[10]![0]!.path, 'utf8'), 'DEFAULT admin\n');
    assert.ok(!existsSync(all[10]![1]!.path), 'the conflicting node\'s link is not made');
    assert.equal(readFileSync(all[30]![0]!.path, 'utf8'), marked(30));
    assert.ok(lstatSync(all[30]![1]!.path).isDirectory());
    assert.ok('e' in out[60]! && out[60].e instanceof TypeError, `the refused link fails its own call: ${JSON.stringify(out[60])}`);
  });
});

describe('the addon itself', () => {
  interface Mod {
    apply(dir: string, ops: unknown[]): Promise<{ dir?: { code: string }; results: Array<{ state: number; code?: string; ino?: number; kind?: string; head?: Buffer }> }>;
  }
  const mod = () => (loadAddon<Mod>('bootfiles', 'boot files') as { mod: Mod }).mod;
  const op = (name: string, data: string, o: { link?: boolean; expectIno?: number; temps?: string[] } = {}) => ({
    name,
    data: Buffer.from(data),
    link: o.link ?? false,
    mode: 0o644,
    temps: o.temps ?? [`.${name}.${process.pid}.${(++seq).toString(16).padStart(8, '0')}.tmp`],
    expectIno: o.expectIno ?? -1,
  });

  test('something else at a name is described (kind, inode, first bytes) and left alone; replaced only while it is still the inode judged', async () => {
    const dir = freshDir();
    const file = path.join(dir, '01-52-54-00-00-00-02');
    writeFileSync(file, MARKED.replace('DEFAULT', 'OLD'));
    const ino = statSync(file).ino;
    const r = await mod().apply(dir, [op('01-52-54-00-00-00-02', MARKED), op('0A630002', '01-52-54-00-00-00-02', { link: true })]);
    assert.equal(r.results.length, 1, 'stops at what it found: the link waits for the judgement');
    assert.equal(r.results[0]!.state, 2);
    assert.equal(r.results[0]!.kind, 'f');
    assert.equal(r.results[0]!.ino, ino);
    assert.equal(r.results[0]!.head!.toString(), MARKED.replace('DEFAULT', 'OLD'));
    assert.equal(readFileSync(file, 'utf8'), MARKED.replace('DEFAULT', 'OLD'));
    // swapped after the judgement: the new inode is described again, not replaced
    writeFileSync(`${file}.other`, 'DEFAULT admin\n');
    const { renameSync } = await import('node:fs');
    renameSync(`${file}.other`, file);
    const again = await mod().apply(dir, [op('01-52-54-00-00-00-02', MARKED, { expectIno: ino })]);
    assert.equal(again.results[0]!.state, 2);
    assert.equal(readFileSync(file, 'utf8'), 'DEFAULT admin\n');
    const now = statSync(file).ino;
    const done = await mod().apply(dir, [op('01-52-54-00-00-00-02', MARKED, { expectIno: now }), op('0A630002', '01-52-54-00-00-00-02', { link: true })]);
    assert.deepEqual(done.results.map((x) => x.state), [1, 1]);
    assert.equal(readFileSync(file, 'utf8'), MARKED);
  });

  test('every temp name taken: EEXIST, and the planted files are untouched', async () => {
    const dir = freshDir();
    writeFileSync(path.join(dir, '.a.1.tmp'), 'x');
    writeFileSync(path.join(dir, '.a.2.tmp'), 'y');
    const r = await mod().apply(dir, [op('a', 'data', { temps: ['.a.1.tmp', '.a.2.tmp'] })]);
    assert.equal(r.results[0]!.state, -1);
    assert.equal(r.results[0]!.code, 'EEXIST');
    assert.equal(readFileSync(path.join(dir, '.a.1.tmp'), 'utf8'), 'x');
    assert.ok(!existsSync(path.join(dir, 'a')));
  });

  test('hostile arguments are refused before any call: names with a slash, "..", a relative directory, no temp names', async () => {
    const dir = freshDir();
    assert.throws(() => mod().apply(dir, [op('../x', 'd')]), TypeError);
    assert.throws(() => mod().apply(dir, [op('..', 'd')]), TypeError);
    assert.throws(() => mod().apply(dir, [op('x', 'd', { temps: ['../t'] })]), TypeError);
    assert.throws(() => mod().apply(dir, [op('x', 'd', { temps: [] })]), TypeError);
    assert.throws(() => mod().apply('relative/dir', [op('x', 'd')]), TypeError);
    assert.throws(() => mod().apply(dir, []), TypeError);
    assert.throws(() => mod().apply(dir, [op('x', 'a\0b', { link: true })]), TypeError);
  });
});
