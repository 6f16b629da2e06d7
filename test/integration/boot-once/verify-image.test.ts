// scripts/build-verify-image.sh for real: two builds in different temp and output dirs are
// byte-identical; the image holds a static busybox, an /init that reads the report knobs, the
// NIC/EDAC modules with a modules.dep, and memtester/dmidecode/smartctl that run (in a chroot of
// the unpacked image) with only the libraries the image carries. The boot itself is in
// test/e2e/boot-once.test.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, tempDir } from '../../helpers/lab.ts';

after(cleanupAll);
requireRoot();
for (const t of ['apt-get', 'dpkg-deb', 'depmod', 'readelf', 'cpio', 'chroot']) requireTool(t);

const REPO = path.resolve(import.meta.dirname, '..', '..', '..');
const SCRIPT = path.join(REPO, 'scripts', 'build-verify-image.sh');
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

function build(dir: string): { out: string; ms: number } {
  const out = path.join(dir, 'out');
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const t0 = Date.now();
  execFileSync('bash', [SCRIPT, '-o', out], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 600_000 });
  return { out, ms: Date.now() - t0 };
}

test('build-verify-image.sh: two builds are byte-identical, and the image carries what its /init runs', () => {
  const a = build(tempDir('verify-img-a-'));
  const b = build(tempDir('verify-img-b-'));
  console.log(`# builds took ${a.ms} ms and ${b.ms} ms`);
  for (const f of ['verify.cpio.gz', 'vmlinuz', 'verify.manifest']) assert.equal(sha(path.join(a.out, f)), sha(path.join(b.out, f)), `${f} differs between two builds`);
  const manifest = readFileSync(path.join(a.out, 'verify.manifest'), 'utf8');
  for (const p of ['busybox-static', 'memtester', 'dmidecode', 'smartmontools', 'linux-image-']) assert.match(manifest, new RegExp(`^${p}\\S* \\S+ [0-9a-f]{64}$`, 'm'), `manifest names ${p} with version and .deb sha256`);
  assert.match(manifest, new RegExp(`^${sha(path.join(a.out, 'verify.cpio.gz'))}  verify\\.cpio\\.gz$`, 'm'));

  // the archive: every entry root-owned, one fixed mtime, names sorted
  const list = execFileSync('sh', ['-c', 'zcat "$1" | cpio -t -v --quiet', 'x', path.join(a.out, 'verify.cpio.gz')], { encoding: 'utf8' }).trim().split('\n');
  assert.ok(list.length > 50, `${list.length} entries`);
  assert.ok(list.every((l) => / root +root /.test(l)), 'all entries root:root');
  const dates = new Set(list.map((l) => l.split(/\s+/).slice(5, 8).join(' ')));
  assert.equal(dates.size, 1, `one mtime for all entries: ${[...dates].join(', ')}`);
  const names = list.map((l) => l.split(/\s+/).slice(8).join(' ').replace(/ -> .*$/, ''));
  assert.deepEqual(names, [...names].sort(), 'entries in sorted order');

  // unpack and run the tools the way /init does, with only the image's own libraries
  const root = tempDir('verify-img-x-');
  execFileSync('sh', ['-c', 'cd "$2" && zcat "$1" | cpio -i -d --quiet', 'x', path.join(a.out, 'verify.cpio.gz'), root]);
  const init = readFileSync(path.join(root, 'init'), 'utf8');
  assert.match(init, /^#!\/bin\/busybox sh/);
  for (const re of [/pxebootd\.report_url=\*/, /pxebootd\.report_token=\*/, /verify_inject=\*/, /--header 'Content-Type: application\/json' --post-data/, /reboot -f/]) assert.match(init, re);
  assert.ok(statSync(path.join(root, 'init')).mode & 0o111, '/init is executable');
  assert.doesNotMatch(execFileSync('readelf', ['-l', path.join(root, 'bin', 'busybox')], { encoding: 'utf8' }), /program interpreter/, 'busybox is static');
  const kv = readFileSync(path.join(root, 'etc', 'verify-kernel'), 'utf8').trim();
  const dep = readFileSync(path.join(root, 'lib', 'modules', kv, 'modules.dep'), 'utf8');
  for (const m of ['virtio_net', 'e1000e', 'igb', 'ixgbe', 'amd64_edac', 'skx_edac']) assert.match(dep, new RegExp(`/${m}\\.ko(\\.xz)?:`), `modules.dep lists ${m}`);
  const inChroot = (args: string[]) => spawnSync('chroot', [root, ...args], { encoding: 'utf8', timeout: 60_000 });
  const mt = inChroot(['/bin/memtester', '1M', '1']);
  assert.equal(mt.status, 0, mt.stdout + mt.stderr);
  assert.match(mt.stdout, /Done\./);
  const dmi = inChroot(['/bin/dmidecode', '--version']);
  assert.equal(dmi.status, 0, dmi.stderr);
  const sm = inChroot(['/bin/smartctl', '--version']);
  assert.equal(sm.status, 0, sm.stderr);
  assert.match(sm.stdout, /^smartctl \d/);
});
