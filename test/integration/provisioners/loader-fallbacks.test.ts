// The real daemon (`pxebootd run`) writes GRUB's grub.cfg dispatcher and iPXE's boot.ipxe at
// start-up when a rule has a grub_template / ipxe_template, without a default_template; an
// admin's own boot.ipxe is left byte-identical and reported once, not again on reload (SIGHUP).
// A real TFTP client then fetches grub/grub.cfg the way GRUB does, from tftpd-hpa in a namespace.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, requireRoot, startDaemon, waitFor } from '../../helpers/lab.ts';
import { setClientAddress, startTftpd, tftpGet } from '../../helpers/tftpd.ts';
import { CLI, makeLab } from '../cli/cli-lab.ts';
import { FALLBACK_MARKER, grubDispatcher, ipxeDispatcher } from '../../../provisioners/loader-fallbacks.ts';

after(cleanupAll);

test('pxebootd run writes grub/grub.cfg, keeps an admin\'s ipxe/boot.ipxe and says so once; TFTP serves the dispatcher', async () => {
  requireRoot();
  const lab = makeLab({
    // a second rule with GRUB and iPXE templates, and no default_template at all
    subnetExtra: '  - { cidr: 10.99.1.0/24, root_dir: root, node_dir: run/node1, overlay_dir: run/overlay1, grub_template: templates/grub.t, ipxe_template: templates/ipxe.t }\n',
  });
  writeFileSync(lab.config, readFileSync(lab.config, 'utf8').replace(/^default_template: .*\n/m, ''));
  writeFileSync(path.join(lab.dir, 'templates/grub.t'), 'menuentry x { linux /vmlinuz nfsroot={{server}}:{{nfs_path}} }\n');
  writeFileSync(path.join(lab.dir, 'templates/ipxe.t'), '#!ipxe\nkernel tftp://{{server}}/vmlinuz\nboot\n');
  mkdirSync(path.join(lab.tftp, 'ipxe'));
  const adminIpxe = '#!ipxe\n# the site menu, owned by the admin\nchain http://10.99.0.1/menu.ipxe\n';
  const ipxeFile = path.join(lab.tftp, 'ipxe', 'boot.ipxe');
  writeFileSync(ipxeFile, adminIpxe);
  const adminMtime = statSync(ipxeFile).mtimeMs;

  const logFile = path.join(lab.dir, 'daemon.log');
  const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor('daemon started', () => log().includes('pxebootd started'), 20_000);

  const grubFile = path.join(lab.tftp, 'grub', 'grub.cfg');
  assert.equal(readFileSync(grubFile, 'utf8'), grubDispatcher(), 'the dispatcher was written at start-up');
  assert.equal(statSync(grubFile).mode & 0o777, 0o644);
  assert.equal(existsSync(path.join(lab.tftp, 'pxelinux.cfg', 'default')), false, 'no default_template: pxelinux.cfg/default is not pxebootd\'s');
  assert.equal(readFileSync(ipxeFile, 'utf8'), adminIpxe, 'the admin\'s boot.ipxe is untouched');
  const owned = () => log().split('\n').filter((l) => l.includes('boot.ipxe is not pxebootd') && l.includes('leaving it alone'));
  assert.equal(owned().length, 1, 'said once at start-up');

  process.kill(d.pid, 'SIGHUP');
  await waitFor('reload', () => log().includes('config reloaded'), 20_000);
  assert.equal(owned().length, 1, 'not said again on reload');
  assert.equal(statSync(ipxeFile).mtimeMs, adminMtime);
  assert.equal(readFileSync(ipxeFile, 'utf8'), adminIpxe);

  // the admin hands the file back by putting the marker in: the next start-up makes it pxebootd's
  await d.stop(5000);
  writeFileSync(ipxeFile, `#!ipxe\n${FALLBACK_MARKER}\n`);
  const d2 = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile: `${logFile}.2` });
  await waitFor('daemon started again', () => existsSync(`${logFile}.2`) && readFileSync(`${logFile}.2`, 'utf8').includes('pxebootd started'), 20_000);
  assert.equal(readFileSync(ipxeFile, 'utf8'), ipxeDispatcher());
  await d2.stop(5000);

  // GRUB fetches <prefix>/grub.cfg over TFTP: a real tftpd-hpa serves what pxebootd wrote
  const pair = makeNetnsPair('pxf');
  setClientAddress(pair.cli, pair.cliIf, '10.99.0.60/24');
  chmodSync(lab.dir, 0o755);
  const tftpd = await startTftpd({ netns: pair.srv, root: lab.tftp, address: pair.srvIp, dir: path.join(lab.dir, 'tftpd') });
  const got = tftpGet(pair.cli, pair.srvIp, 'grub/grub.cfg');
  assert.ok(got.ok, got.error);
  assert.equal(got.data?.toString('utf8'), grubDispatcher());
  await tftpd.stop();
});
