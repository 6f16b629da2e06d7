// Hostile input through the whole pipeline: a lease file full of hostile hostnames, MACs and IPs
// (newlines, "../", "*(rw)", spaces, shell characters, 300 characters, NUL, non-UTF-8) and the same
// hostnames through `pxebootd provision --hostname`. No crash, nothing outside the managed dirs,
// every exports line in the strict grammar, every boot file exactly the template's lines.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { makeLab, writeConfig } from '../../../bench/lib/lab.ts';
import { pxebootdArgv, startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { checkConsistent, readExports, toStatusNodes } from './invariants.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PWNED = '/tmp/pxg-pwned';
const RFC1123 = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const SAFE_NAME = /^[A-Za-z0-9._-]+$/;

const HOSTILE_HOSTNAMES = [
  '../../../../etc/pxg-escape',
  '*(rw)',
  `$(touch${'${IFS}'}${PWNED});\`touch ${PWNED}\`|&>`,
  'a'.repeat(300),
  'evil\n/ 10.99.0.0/16(rw,no_root_squash)',
  'two words',
  "quote'\"",
  'x{{server}}<NODE>',
];

/** Every path under `dir`, relative. */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel))) {
    const r = path.join(rel, e);
    out.push(r);
    const st = lstatSync(path.join(dir, r));
    if (st.isDirectory() && !st.isSymbolicLink()) out.push(...walk(dir, r));
  }
  return out;
}

describe('hostile input, end to end', () => {
  after(cleanupAll);

  test('lease file and provision --hostname: no crash, no escape, strict exports, intact boot files', { timeout: 120_000 }, async () => {
    requireRoot();
    const lab = makeLab('hostile');
    const template = 'DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n  APPEND root=/dev/nfs nfsroot={{server}}:{{nfs_path}} hostname={{hostname}} node=<NODE>\n';
    writeFileSync(lab.template, template);
    const tplLines = template.trimEnd().split('\n');
    const cfg = writeConfig(lab);
    const exportsBefore = readdirSync('/etc/exports.d').sort();
    const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd.log'));
    const exp = Math.floor(Date.now() / 1000) + 3600;

    const lines: Buffer[] = [Buffer.from(`${exp} 52:54:00:00:00:01 10.99.0.1 good 01:52:54:00:00:00:01\n`)];
    HOSTILE_HOSTNAMES.forEach((h, i) => lines.push(Buffer.from(`${exp} 52:54:00:00:01:${(i + 16).toString(16)} 10.99.1.${i + 1} ${h} *\n`)));
    lines.push(Buffer.from(`${exp} 52:54:00:00:02:01 10.99.2.1 nul\0host *\n`));
    lines.push(Buffer.from(`${exp} 52:54:00:00:02:02 10.99.2.2\0 h *\n`));
    lines.push(Buffer.from(`${exp} 52:54:00:00:02:03 10.99.2.3 bad\xff\xfehost *\n`, 'latin1'));
    lines.push(Buffer.from(`${exp} ../../../x 10.99.2.4 h *\n`));
    lines.push(Buffer.from(`${exp} 52:54:00:00:02:05 10.99.2.5/../../x h *\n`));
    lines.push(Buffer.from(`${exp} 52:54:00:00:02:06 10.99.2.6 ${'b'.repeat(70000)} *\n`));
    lines.push(Buffer.from(`\0\0\0\0\n*(rw)\n${exp}\n`));
    lines.push(Buffer.from(`${exp} 52:54:00:00:00:02 10.99.0.2 good2 *\n`));
    writeFileSync(lab.leases, Buffer.concat(lines));

    // the same hostnames by hand (NUL cannot travel in argv: execve stops at it)
    const argv = pxebootdArgv();
    HOSTILE_HOSTNAMES.forEach((h, i) => {
      try {
        execFileSync(argv[0]!, [...argv.slice(1), 'provision', `10.99.3.${i + 1}`, '--mac', `52:54:00:00:03:${(i + 16).toString(16)}`, '--hostname', h, '-c', cfg], { stdio: 'pipe', timeout: 30_000 });
      } catch (e) {
        const err = e as { status?: number; stderr?: Buffer };
        // refusing a bad hostname is fine; it must say so, not crash
        assert.ok(err.status !== undefined && err.status !== null, `provision --hostname ${JSON.stringify(h)} died: ${String(err.stderr)}`);
        assert.doesNotMatch(String(err.stderr), /^\s+at /m, `stack trace for ${JSON.stringify(h)}`);
      }
    });

    await waitFor('the two good leases ready', () => {
      const n = toStatusNodes(statusJson(cfg));
      return ['10.99.0.1', '10.99.0.2'].every((ip) => n.some((x) => x.ip === ip && x.state === 'ready'));
    }, 30_000, 200);
    await sleep(1500); // whatever else was accepted settles
    assert.ok(existsSync(`/proc/${d.pid}`), 'daemon crashed');

    const nodes = toStatusNodes(statusJson(cfg));
    for (const n of nodes) {
      if (n.hostname !== undefined) assert.match(n.hostname, RFC1123, `hostname of ${n.ip} kept unvalidated`);
      assert.match(n.name, SAFE_NAME);
    }
    assert.ok(!nodes.some((n) => ['10.99.2.4', '10.99.2.5'].includes(n.ip) || n.ip.includes('/')), 'a lease with a bad MAC or IP was used');
    assert.deepEqual(checkConsistent(lab, nodes.filter((n) => n.state === 'ready')), []);
    assert.deepEqual(readExports(lab.exportsFile).bad, [], 'exports lines outside the grammar');

    // no escape: nothing outside the lab, every name under it safe, nothing new in /etc/exports.d
    assert.equal(existsSync(PWNED), false, 'shell injection ran');
    assert.equal(existsSync('/etc/pxg-escape'), false);
    // /etc/exports.d is shared with other jobs on the machine: a new file is ours if it names our lab
    // (every line or file this daemon writes carries the lab's paths) or carries a hostile string
    const ours = (f: string) => {
      const text = readFileSync(path.join('/etc/exports.d', f), 'latin1');
      return text.includes(lab.dir) || /pxg-escape|pwned|\.\.\//i.test(f + text);
    };
    assert.deepEqual(readdirSync('/etc/exports.d').filter((f) => !exportsBefore.includes(f) && ours(f)), []);
    for (const dir of [lab.tftpRoot, lab.nodeDir, lab.overlayDir, lab.stateDir]) {
      for (const rel of walk(dir)) for (const part of rel.split('/')) assert.match(part, SAFE_NAME, `unsafe name under ${dir}: ${JSON.stringify(rel)}`);
    }
    const names = new Set(nodes.map((n) => n.name));
    for (const e of readdirSync(lab.nodeDir)) assert.ok(names.has(e), `node dir ${e} belongs to no node`);

    // boot files: exactly the template's lines, each filled in on one line
    const cfgDir = path.join(lab.tftpRoot, 'pxelinux.cfg');
    const files = readdirSync(cfgDir).filter((f) => !f.startsWith('.'));
    assert.ok(files.length >= 2);
    for (const f of files) {
      let got = readFileSync(path.join(cfgDir, f), 'utf8').trimEnd().split('\n');
      // pxebootd's own one-line header, printable ASCII only
      if (got[0]?.startsWith('#') && !tplLines[0]!.startsWith('#')) {
        assert.match(got[0], /^# pxebootd: [ -~]*$/, `${f} header`);
        got = got.slice(1);
      }
      assert.equal(got.length, tplLines.length, `${f} has ${got.length} lines:\n${got.join("\n")}`);
      got.forEach((l, i) => assert.equal(l.split(' ')[0], tplLines[i]!.split(' ')[0], `${f} line ${i + 1}`));
      const append = got[3]!;
      assert.match(append, /^ {2}APPEND root=\/dev\/nfs nfsroot=10\.99\.255\.254:\/[A-Za-z0-9._/-]+ hostname=[A-Za-z0-9.-]* node=[A-Za-z0-9._-]+$/, `${f}: ${append}`);
    }
    await d.stop();
  });
});
