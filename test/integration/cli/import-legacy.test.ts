// The README's migration recipe, run as an admin would: the fuse_pxebootfs config in its own
// directory (relative template and all), `import-legacy … > pxebootd.yaml` elsewhere, then `check`.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';
import { cli } from './cli-lab.ts';

after(cleanupAll);

const ORIG = new URL('../../fixtures/config/legacy-original/', import.meta.url);

/** The old server's files, as they were but for /netboot moved under a temp dir. */
function oldServer(): { dir: string; cfg: string } {
  const dir = tempDir('pxe-legacy-cli-');
  const oldDir = path.join(dir, 'etc/pxebootfs');
  mkdirSync(oldDir, { recursive: true });
  for (const d of ['netboot/root', 'netboot/node', 'netboot/overlay']) mkdirSync(path.join(dir, d), { recursive: true });
  const cfg = path.join(oldDir, 'pxebootfs.cfg');
  writeFileSync(cfg, readFileSync(new URL('pxebootfs.cfg', ORIG), 'utf8').replaceAll('/netboot/', `${dir}/netboot/`));
  copyFileSync(new URL('pxelinux.cfg.template', ORIG), path.join(oldDir, 'pxelinux.cfg.template'));
  return { dir, cfg };
}

describe('pxebootd import-legacy', () => {
  test('the recipe: converted YAML in another directory passes check, the relative template is found', async () => {
    const { dir, cfg } = oldServer();
    const r = await cli(['import-legacy', cfg, '--cidr', '10.0.0.0/24', '--server', '10.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    const yamlDir = path.join(dir, 'etc/pxebootd');
    mkdirSync(yamlDir, { recursive: true });
    const yaml = path.join(yamlDir, 'pxebootd.yaml');
    // a scratch state_dir and tftp_root, as an admin would set them on a test box
    writeFileSync(yaml, r.stdout.replace(/^tftp_root: .*$/m, `tftp_root: ${dir}/tftp\nstate_dir: ${dir}/state`));
    mkdirSync(path.join(dir, 'tftp'));
    const c = await cli(['check', '-c', yaml]);
    assert.equal(c.code, 0, `${c.stdout}\n${c.stderr}\n${r.stdout}`);
  });

  test('without --cidr: exit 2, a message naming --cidr, no YAML', async () => {
    const { cfg } = oldServer();
    const r = await cli(['import-legacy', cfg]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /cidr: .*--cidr/);
  });

  test('a file that is not a [PXEBOOTFS] config, or lacks required keys: exit 2, the keys named', async () => {
    const dir = tempDir('pxe-legacy-bad-');
    const notOurs = path.join(dir, 'other.cfg');
    writeFileSync(notOurs, '[global]\nworkgroup = x\n');
    const a = await cli(['import-legacy', notOurs, '--cidr', '10.0.0.0/24']);
    assert.equal(a.code, 2);
    assert.equal(a.stdout, '');
    assert.match(a.stderr, /no \[PXEBOOTFS\] section/);
    const partial = path.join(dir, 'partial.cfg');
    writeFileSync(partial, '[PXEBOOTFS]\npxe_template: ./t\n');
    const b = await cli(['import-legacy', partial, '--cidr', '10.0.0.0/24']);
    assert.equal(b.code, 2);
    for (const k of ['node_dir', 'root_dir', 'overlay_dir']) assert.match(b.stderr, new RegExp(`missing key "${k}"`));
  });
});
