// The tar reader and the import rules, on archives made by the real tar (headers only are read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { memberParts, resolveRelative, TarPolicy, TarProblem, TarScanner, type TarEntry } from '../../../src/images/tar-scan.ts';

function scan(buf: Buffer, chunk = 7): TarEntry[] {
  const s = new TarScanner();
  const out: TarEntry[] = [];
  for (let i = 0; i < buf.length; i += chunk) out.push(...s.push(buf.subarray(i, i + chunk)));
  s.end();
  return out;
}

test('reads ustar, GNU long names, pax paths and every member type, in any chunking', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pxe-tarscan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const long = 'd'.repeat(120);
  mkdirSync(path.join(dir, 'src', long), { recursive: true });
  writeFileSync(path.join(dir, 'src', long, 'f'), 'x'.repeat(1000));
  symlinkSync('../x', path.join(dir, 'src', 'ln'));
  for (const format of ['gnu', 'posix']) {
    const file = path.join(dir, `${format}.tar`);
    execFileSync('tar', ['-cf', file, `--format=${format}`, '-C', path.join(dir, 'src'), '.']);
    const buf = readFileSync(file);
    for (const chunk of [1, 7, 512, 100000]) {
      const names = scan(buf, chunk).map((e) => `${e.type}:${e.name}${e.linkname ? '->' + e.linkname : ''}:${e.size}`).sort();
      assert.deepEqual(names, ['dir:./:0', `dir:./${long}/:0`, `file:./${long}/f:1000`, 'symlink:./ln->../x:0'], `${format} chunk ${chunk}`);
    }
  }
});

test('truncated and non-tar input are problems, not crashes', () => {
  assert.throws(() => scan(Buffer.alloc(1024, 0x41)), TarProblem);
  assert.throws(() => new TarScanner().end(), /no member/);
});

test('the policy refuses .., absolute names, escaping symlinks, writes through symlinks and foreign hard links', () => {
  const e = (name: string, type: TarEntry['type'] = 'file', linkname = ''): TarEntry => ({ name, type, linkname, size: 0 });
  const refuse = (entries: TarEntry[], re: RegExp) => {
    const p = new TarPolicy();
    assert.throws(() => entries.forEach((x) => p.check(x)), re);
  };
  refuse([e('../x')], /contains "\.\."/);
  refuse([e('a/../../x')], /contains "\.\."/);
  refuse([e('/etc/passwd')], /absolute path/);
  refuse([e('a/l', 'symlink', '../../etc')], /points outside the image/);
  refuse([e('l', 'symlink', '/etc'), e('l/passwd')], /written through the symlink "l"/);
  refuse([e('h', 'hardlink', '/etc/passwd')], /absolute path/);
  refuse([e('h', 'hardlink', 'etc/passwd')], /names no earlier member/);
  refuse([e('h', 'hardlink', '../x')], /contains "\.\."/);
  const ok = new TarPolicy();
  for (const x of [e('./', 'dir'), e('etc/', 'dir'), e('etc/passwd'), e('etc/hl', 'hardlink', './etc/passwd'), e('bin', 'symlink', 'usr/bin'), e('usr/lib/l', 'symlink', '../../etc/passwd'), e('etc/localtime', 'symlink', '/usr/share/zoneinfo/UTC'), e('dev/null', 'char')]) ok.check(x);
  assert.equal(ok.count, 8);
});

test('member names and relative targets resolve lexically inside the root', () => {
  assert.deepEqual(memberParts('./a//b/./c/'), ['a', 'b', 'c']);
  assert.deepEqual(resolveRelative(['a', 'b'], '../c'), ['a', 'c']);
  assert.equal(resolveRelative(['a'], '../../c'), undefined);
});
