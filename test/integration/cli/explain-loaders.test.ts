// `pxebootd explain` per loader: for BIOS pxelinux, UEFI GRUB (shim + grubnetx64) and iPXE, the
// file the client asks for first and the file pxebootd writes that it gets. The real CLI on a real
// config; the written names are checked against what `pxebootd run` puts in tftp_root.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, startDaemon, waitFor } from '../../helpers/lab.ts';
import { CLI, cli, leaseLine, makeLab } from './cli-lab.ts';
import type { LoaderLookup } from '../../../provisioners/loader-lookup.ts';

after(cleanupAll);

const MAC = '52:54:00:aa:00:95';
const IP = '10.99.0.95';

function loaderLab() {
  const lab = makeLab({ extra: `hosts:\n  - { ip: ${IP}, grub_template: templates/grub.template, ipxe_template: templates/ipxe.template }\n` });
  writeFileSync(path.join(lab.dir, 'templates/grub.template'), 'linux {{kernel}} root=/dev/nfs nfsroot={{server}}:{{nfs_path}}\nboot\n');
  writeFileSync(path.join(lab.dir, 'templates/ipxe.template'), '#!ipxe\nkernel {{kernel}} nfsroot={{server}}:{{nfs_path}}\nboot\n');
  return lab;
}

describe('pxebootd explain: per loader', () => {
  test('text and JSON: first ask and the file each loader gets', async () => {
    const lab = loaderLab();
    const r = await cli(['explain', IP, '--mac', MAC, '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr);
    const block = r.stdout.slice(r.stdout.indexOf('loaders ('));
    assert.match(block, /^ {2}pxelinux: BIOS PXE, pxelinux\.0\n {4}asks first: pxelinux\.cfg\/01-52-54-00-aa-00-95\n {4}then tries: pxelinux\.cfg\/0A63005F, pxelinux\.cfg\/0A63005, .*pxelinux\.cfg\/0, pxelinux\.cfg\/default\n {4}pxebootd writes: pxelinux\.cfg\/01-52-54-00-aa-00-95 \(links: pxelinux\.cfg\/0A63005F\)\n {4}gets: pxelinux\.cfg\/01-52-54-00-aa-00-95$/m);
    assert.match(block, /^ {2}grub: UEFI .*\n {4}asks first: grub\/grub\.cfg\n {4}then tries: grub\/grub\.cfg-01-52-54-00-aa-00-95, grub\/grub\.cfg-0A63005F, .*grub\/grub\.cfg\n {4}pxebootd writes: grub\/grub\.cfg-01-52-54-00-aa-00-95 \(links: grub\/grub\.cfg-0A63005F\)\n {4}gets: grub\/grub\.cfg-01-52-54-00-aa-00-95$/m);
    assert.match(block, /^ {2}ipxe: iPXE .*\n {4}asks first: ipxe\/boot\.ipxe\n {4}then tries: ipxe\/525400aa0095\.ipxe, ipxe\/0a63005f\.ipxe\n {4}pxebootd writes: ipxe\/525400aa0095\.ipxe \(links: ipxe\/0a63005f\.ipxe\)\n {4}gets: ipxe\/525400aa0095\.ipxe$/m);

    const j = await cli(['explain', IP, '--mac', MAC, '--json', '-c', lab.config]);
    const loaders = (JSON.parse(j.stdout) as { loaders: LoaderLookup[] }).loaders;
    assert.deepEqual(loaders.map((l) => [l.loader, l.firstAsk, l.gets]), [
      ['pxelinux', 'pxelinux.cfg/01-52-54-00-aa-00-95', 'pxelinux.cfg/01-52-54-00-aa-00-95'],
      ['grub', 'grub/grub.cfg', 'grub/grub.cfg-01-52-54-00-aa-00-95'],
      ['ipxe', 'ipxe/boot.ipxe', 'ipxe/525400aa0095.ipxe'],
    ]);
  });

  test('a loader without a template and a client without a MAC', async () => {
    const lab = makeLab();
    const r = await cli(['explain', '10.99.0.96', '--json', '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr);
    const loaders = (JSON.parse(r.stdout) as { loaders: LoaderLookup[] }).loaders;
    const by = Object.fromEntries(loaders.map((l) => [l.loader, l]));
    assert.equal(by.pxelinux!.firstAsk, 'pxelinux.cfg/0A630060');
    assert.equal(by.pxelinux!.gets, 'pxelinux.cfg/0A630060');
    assert.deepEqual(by.grub!.written, []);
    assert.equal(by.grub!.gets, undefined);
    assert.match(by.grub!.otherwise, /dispatcher/);
    const t = await cli(['explain', '10.99.0.96', '-c', lab.config]);
    assert.match(t.stdout, /^ {4}pxebootd writes: nothing for this loader \(no template in the rule\)\n {4}gets: no per-node file; grub\/grub\.cfg is pxebootd's dispatcher/m);
  });

  test('the files explain says pxebootd writes are the ones pxebootd run writes', { timeout: 120_000 }, async () => {
    requireRoot();
    const lab = loaderLab();
    const j = await cli(['explain', IP, '--mac', MAC, '--json', '-c', lab.config]);
    const loaders = (JSON.parse(j.stdout) as { loaders: LoaderLookup[] }).loaders;
    const logFile = path.join(lab.dir, 'daemon.log');
    startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
    await waitFor('daemon started', () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('pxebootd started'), 30_000);
    writeFileSync(lab.leases, leaseLine(MAC, IP));
    for (const l of loaders) {
      for (const f of l.written) await waitFor(`${f} written`, () => existsSync(path.join(lab.tftp, f)), 30_000);
      // the first ask of GRUB and iPXE is pxebootd's fallback file, written at start-up
      if (l.loader !== 'pxelinux') assert.ok(existsSync(path.join(lab.tftp, l.firstAsk)), l.firstAsk);
      assert.ok(readFileSync(path.join(lab.tftp, l.gets!), 'utf8').includes('pxebootd: generated for node 0A63005F'), l.gets);
    }
  });
});
