// GRUB's grub.cfg dispatcher and iPXE's boot.ipxe: which config calls for them, what they say, and
// that they are written atomically through the real boot directory, never over an admin's file,
// a link or through a linked directory. Files are real (a temp dir); the runner is a fake.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createFakeRunner } from '../../helpers/fake-runner.ts';
import { ConflictError } from '../../../src/errors.ts';
import type { Config } from '../../../src/types.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { createApply } from '../../../src/pipeline/jobs.ts';
import { FALLBACK_MARKER, grubDispatcher, ipxeDispatcher, isFallbackHead, planLoaderFallbacks, writeFallback } from '../../../provisioners/loader-fallbacks.ts';
import { markerNode } from '../../../provisioners/boot-files.ts';
import { makeConfig } from './fixtures.ts';

function scratch(): string {
  const base = mkdtempSync(path.join(tmpdir(), 'pxd-fallback-'));
  process.on('exit', () => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'tftp'));
  return base;
}

const withTemplates = (base: string, t: { grub?: boolean; ipxe?: boolean }, over: Partial<Config> = {}): Config => {
  const c = makeConfig(base, over);
  c.subnets = [{ ...c.subnets[0]!, ...(t.grub ? { grub_template: `${base}/g.t` } : {}), ...(t.ipxe ? { ipxe_template: `${base}/i.t` } : {}) }];
  return c;
};

describe('planLoaderFallbacks', () => {
  test('a loader gets its fallback only when some rule has its template', () => {
    const base = '/srv/x';
    assert.deepEqual(planLoaderFallbacks(withTemplates(base, {})), []);
    assert.deepEqual(planLoaderFallbacks(withTemplates(base, { grub: true })).map((f) => [f.loader, f.file]), [['grub', '/srv/x/tftp/grub/grub.cfg']]);
    assert.deepEqual(planLoaderFallbacks(withTemplates(base, { ipxe: true })).map((f) => [f.loader, f.file]), [['ipxe', '/srv/x/tftp/ipxe/boot.ipxe']]);
    const hostOnly = makeConfig(base);
    hostOnly.hosts = [{ ...hostOnly.subnets[0]!, mac: '52:54:00:00:00:01', grub_template: '/t' } as never];
    assert.deepEqual(planLoaderFallbacks(hostOnly).map((f) => f.loader), ['grub'], 'a host rule counts too');
    assert.deepEqual(planLoaderFallbacks(withTemplates(base, { grub: true, ipxe: true }, { grub_dir: '.', ipxe_dir: 'boot/ipxe' })).map((f) => f.file), ['/srv/x/tftp/grub.cfg', '/srv/x/tftp/boot/ipxe/boot.ipxe']);
  });
});

describe('dispatcher texts', () => {
  test('GRUB: marker first, GRUB\'s own per-node search in a flat wait-and-retry loop, and no node-specific line', () => {
    const g = grubDispatcher(5);
    assert.equal(g.split('\n')[0], FALLBACK_MARKER);
    assert.ok(isFallbackHead(g));
    assert.equal(markerNode(g), undefined, 'not a per-node file: orphan scans must never take it for one');
    // first pass: a loop around `normal` (GRUB searches grub.cfg-01-<mac>, grub.cfg-<HEXIP>..., grub.cfg)
    assert.match(g, /else\n {2}while \[ 1 = 1 \]; do\n {4}set pxebootd_phase=search\n {4}export pxebootd_phase\n(?: {4}#.*\n)* {4}normal\n(?: {4}#.*\n)* {4}echo .*\n {4}sleep 5\n {2}done\nfi\n$/);
    // second pass (the search came back here): leave the nested normal mode, back to the loop
    assert.match(g, /if \[ "\$pxebootd_phase" = search \]; then\n {2}# .*\n {2}set pxebootd_phase=wait\n {2}export pxebootd_phase\n {2}normal_exit\n/);
    assert.doesNotMatch(g, /configfile|reboot/, 'no nesting per retry (GRUB\'s recursion limit), no reset');
    assert.match(g, /\$net_default_mac \(\$net_default_ip\)/, 'the message names the client by GRUB\'s net variables');
    for (const l of g.split('\n')) if (l.trim().startsWith('echo')) assert.ok(l.trim().length - 'echo ""'.length + 17 + 15 - '$net_default_mac$net_default_ip'.length <= 80, 'its message fits GRUB\'s 80 columns');
    assert.doesNotMatch(g, /linux|initrd|chainloader|\{\{/, 'it never boots anything itself');
  });

  test('iPXE: #!ipxe, marker second, chains by MAC then IP relative to itself, retries forever', () => {
    const i = ipxeDispatcher(7);
    const lines = i.split('\n');
    assert.equal(lines[0], '#!ipxe');
    assert.equal(lines[1], FALLBACK_MARKER);
    assert.ok(isFallbackHead(i));
    assert.equal(markerNode(i), undefined);
    assert.match(i, /^:retry\nchain \$\{mac:hexraw\}\.ipxe \|\| chain \$\{ip:hexraw\}\.ipxe \|\| goto wait\n:wait\n.*retrying in 7 s\nsleep 7\ngoto retry\n$/m);
    assert.doesNotMatch(i, /kernel|initrd|boot\n|tftp:\/\/|http:\/\//, 'relative names only: it works over TFTP and HTTP, and boots nothing itself');
  });

  test('isFallbackHead: only the exact marker on line 1 or 2', () => {
    assert.equal(isFallbackHead(`${FALLBACK_MARKER}\nx`), true);
    assert.equal(isFallbackHead(`#!ipxe\r\n${FALLBACK_MARKER}\r\n`), true);
    assert.equal(isFallbackHead(`a\nb\n${FALLBACK_MARKER}\n`), false);
    assert.equal(isFallbackHead(`# ${FALLBACK_MARKER}\n`), false);
    assert.equal(isFallbackHead('set timeout=0\nconfigfile /grub/x\n'), false);
  });
});

describe('writeFallback', () => {
  const grubFile = (base: string) => ({ loader: 'grub' as const, file: path.join(base, 'tftp', 'grub', 'grub.cfg'), text: grubDispatcher() });

  test('absent: written (0644, parents made); same text: unchanged, same inode; our older text: rewritten', async () => {
    const base = scratch();
    const f = grubFile(base);
    assert.equal(await writeFallback(f), 'written');
    assert.equal(readFileSync(f.file, 'utf8'), f.text);
    assert.equal(statSync(f.file).mode & 0o777, 0o644);
    const ino = statSync(f.file).ino;
    assert.equal(await writeFallback(f), 'unchanged');
    assert.equal(statSync(f.file).ino, ino);
    writeFileSync(f.file, `${FALLBACK_MARKER}\n# an older pxebootd's text\n`);
    assert.equal(await writeFallback(f), 'written');
    assert.equal(readFileSync(f.file, 'utf8'), f.text);
  });

  test('an admin\'s file (no marker line) is never overwritten', async () => {
    const base = scratch();
    const f = grubFile(base);
    mkdirSync(path.dirname(f.file));
    const admin = 'set timeout=5\nmenuentry "site menu" { linux /vmlinuz }\n';
    writeFileSync(f.file, admin);
    assert.equal(await writeFallback(f), 'admin-owned');
    assert.equal(readFileSync(f.file, 'utf8'), admin);
    // the marker further down does not make it ours
    writeFileSync(f.file, `set timeout=5\n\n${FALLBACK_MARKER}\n`);
    assert.equal(await writeFallback(f), 'admin-owned');
  });

  test('a symlink or FIFO at the name is the admin\'s: left alone, its target untouched', async () => {
    const base = scratch();
    const f = grubFile(base);
    mkdirSync(path.dirname(f.file));
    const target = path.join(base, 'elsewhere.cfg');
    writeFileSync(target, `${FALLBACK_MARKER}\nold\n`);
    symlinkSync(target, f.file);
    assert.equal(await writeFallback(f), 'admin-owned');
    assert.equal(readlinkSync(f.file), target);
    assert.equal(readFileSync(target, 'utf8'), `${FALLBACK_MARKER}\nold\n`);    rmSync(f.file);
    execFileSync('mkfifo', [f.file]);
    assert.equal(await writeFallback(f), 'admin-owned', 'a FIFO is never opened, never replaced');
    assert.ok(lstatSync(f.file).isFIFO());
  });

  test('a linked boot directory is a ConflictError; nothing is written behind it', async () => {
    const base = scratch();
    const f = grubFile(base);
    const outside = path.join(base, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, path.dirname(f.file));
    await assert.rejects(writeFallback(f), ConflictError);
    assert.equal(existsSync(path.join(outside, 'grub.cfg')), false);
  });
});

describe('provisioner.writeDefault', () => {
  function provisioner(config: Config, lines: string[], dryRun = false) {
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const log = pino({ level: 'info' }, sink);
    return createProvisioner({ config, runner: createFakeRunner(() => undefined, dryRun), log }, { readMountinfo: async () => '', mountMethod: { method: 'command', why: 'unit test' } });
  }

  test('writes grub.cfg and boot.ipxe without default_template; an admin-owned one is said once, never touched', async () => {
    const base = scratch();
    const config = withTemplates(base, { grub: true, ipxe: true });
    mkdirSync(path.join(base, 'tftp', 'ipxe'));
    const admin = '#!ipxe\nchain http://site/menu.ipxe\n';
    writeFileSync(path.join(base, 'tftp', 'ipxe', 'boot.ipxe'), admin);
    const lines: string[] = [];
    const p = provisioner(config, lines);
    await p.writeDefault();
    await p.writeDefault(); // a reload
    assert.equal(readFileSync(path.join(base, 'tftp', 'grub', 'grub.cfg'), 'utf8'), grubDispatcher());
    assert.equal(readFileSync(path.join(base, 'tftp', 'ipxe', 'boot.ipxe'), 'utf8'), admin);
    assert.equal(existsSync(path.join(base, 'tftp', 'pxelinux.cfg', 'default')), false, 'no default_template: no pxelinux default');
    const warns = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);
    assert.equal(warns.length, 1, 'the admin-owned file is reported once');
    assert.match(warns[0]!.msg, /boot\.ipxe is not pxebootd's .*leaving it alone/);
    await p.close();
  });

  test('no grub/ipxe template: no fallback files; dry-run writes nothing', async () => {
    const base = scratch();
    const p = provisioner(withTemplates(base, {}), []);
    await p.writeDefault();
    assert.equal(existsSync(path.join(base, 'tftp', 'grub')), false);
    assert.equal(existsSync(path.join(base, 'tftp', 'ipxe')), false);
    await p.close();
    const dryConfig = withTemplates(base, { grub: true, ipxe: true });
    const real = provisioner(dryConfig, [], true);
    // dry-run is decided by the apply stage, in front of the provisioner
    const dry = { ...createApply(real, pino({ level: 'silent' }), () => dryConfig, true), close: () => real.close() };
    await dry.writeDefault();
    assert.equal(existsSync(path.join(base, 'tftp', 'grub')), false);
    await dry.close();
  });

  test('a broken grub dir does not cost pxelinux its default', async () => {
    const base = scratch();
    writeFileSync(path.join(base, 'default.t'), 'DEFAULT retry\n');
    const config = withTemplates(base, { grub: true }, { default_template: path.join(base, 'default.t') });
    symlinkSync('/tmp', path.join(base, 'tftp', 'grub'));
    const lines: string[] = [];
    const p = provisioner(config, lines);
    await p.writeDefault();
    assert.equal(readFileSync(path.join(base, 'tftp', 'pxelinux.cfg', 'default'), 'utf8'), 'DEFAULT retry\n');
    assert.ok(lstatSync(path.join(base, 'tftp', 'grub')).isSymbolicLink());
    assert.ok(lines.some((l) => /could not write .*grub\.cfg/.test(l)));
    await p.close();
  });
});
