// The .deb as an admin uses it, on a fresh Debian 12 with systemd as PID 1 (systemd-nspawn -b of a
// cached mmdebstrap rootfs): `npm run package` (lintian clean), apt-get install ./pxebootd_*.deb
// with its dependencies from the Debian mirror, no other service enabled by pxebootd, a config
// from the shipped one, `systemctl enable --now`, a lease that becomes a ready node with its
// overlay mounted in the system's mount namespace, reload with a good and a broken config, the
// man page, bash completion, then remove and purge (with mounts left, and without).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { requireRoot, requireTool } from '../../helpers/lab.ts';
import { REPO_ROOT } from '../../helpers/e2e-assets.ts';
import { bootContainer, ensureRootfs, removeTree, run, TEST_CACHE, type Container } from './nspawn.ts';

const CONF = '/etc/pxebootd/pxebootd.yaml';
const LEASES = '/var/lib/misc/dnsmasq.leases';

/** Enabled units: every symlink below /etc/systemd/system's *.wants and *.requires dirs. */
const ENABLED = "find /etc/systemd/system -path '*.wants/*' -o -path '*.requires/*' | sed 's|.*/||' | sort -u";

test('the .deb on a fresh Debian 12 under systemd: install, enable --now, a ready node, reload, man, completion, remove, purge', { timeout: 25 * 60_000 }, async (t) => {
  requireRoot();
  for (const tool of ['mmdebstrap', 'systemd-nspawn', 'nsenter', 'dpkg-deb', 'dpkg-shlibdeps', 'lintian']) requireTool(tool);
  mkdirSync(TEST_CACHE, { recursive: true });
  // on the cache's filesystem, so that the rootfs copy can be a reflink
  const work = mkdtempSync(path.join(TEST_CACHE, 'run-'));
  const root = path.join(work, 'root');
  let c: Container | undefined;
  t.after(async () => {
    await c?.stop();
    removeTree(work);
  });

  let failed: string | undefined;
  const step = (name: string, fn: () => Promise<void>, timeoutMs = 5 * 60_000) =>
    t.test(name, { timeout: timeoutMs }, async () => {
      if (failed) throw new Error(`not run: the step "${failed}" failed`);
      try {
        await fn();
      } catch (e) {
        failed = name;
        throw e;
      }
    });
  const sh = async (cmd: string, o: { timeoutMs?: number; ok?: boolean } = {}) => {
    const r = await c!.sh(cmd, { timeoutMs: o.timeoutMs });
    if ((o.ok ?? true) && r.code !== 0) throw new Error(`in the container: ${cmd}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  let deb = '';
  await step('npm run package builds the .deb, lintian clean, and prints its path last', async () => {
    const r = await run('bash', ['scripts/package.sh'], { cwd: REPO_ROOT, env: { ...process.env, PXEBOOTD_DEB_DIR: work }, timeoutMs: 15 * 60_000 });
    assert.equal(r.code, 0, r.stderr.slice(-4000));
    deb = r.stdout.trim().split('\n').at(-1)!;
    assert.match(path.basename(deb), /^pxebootd_\d+\.\d+\.\d+[^_]*_amd64\.deb$/);
    assert.equal(path.dirname(deb), work);
    assert.ok(existsSync(deb));
    const control = (await run('dpkg-deb', ['-f', deb])).stdout;
    assert.match(control, /^Depends: .*\bmount\b.*\biproute2\b/m);
    assert.doesNotMatch(control, /^(Pre-Depends|Depends|Recommends): .*nodejs/m);
    assert.match(control, /^Recommends: nfs-kernel-server \| nfs-ganesha$/m);
    assert.match(control, /^Suggests: dnsmasq, tftpd-hpa$/m);
  }, 15 * 60_000);

  let before = '';
  await step('a Debian 12 rootfs (cached) boots with systemd as PID 1', async () => {
    const cached = await ensureRootfs();
    const cp = await run('cp', ['-a', '--reflink=auto', cached, root], { timeoutMs: 10 * 60_000 });
    assert.equal(cp.code, 0, cp.stderr);
    copyFileSync(deb, path.join(root, 'root', path.basename(deb)));
    c = await bootContainer(root, `pxe${process.pid}`, path.join(work, 'console.log'));
    assert.equal((await sh('readlink /proc/1/exe')).stdout.trim(), '/usr/lib/systemd/systemd');
    before = (await sh(ENABLED)).stdout;
  }, 15 * 60_000);

  await step('apt-get install ./pxebootd_*.deb: dependencies from the mirror; enabled, not started, and says why', async () => {
    const r = await sh(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y /root/${path.basename(deb)}`, { timeoutMs: 10 * 60_000 });
    assert.match(r.stdout, /pxebootd: enabled, but not started: \/etc\/pxebootd\/pxebootd\.yaml does not pass `pxebootd check` yet/);
    assert.match(r.stdout, /root_dir not found: \/netboot\/root/);
    assert.match(r.stdout, /then run: systemctl start pxebootd/);
    assert.equal((await sh('systemctl is-enabled pxebootd', { ok: false })).stdout.trim(), 'enabled');
    assert.equal((await sh('systemctl is-active pxebootd', { ok: false })).stdout.trim(), 'inactive');
    assert.match((await sh('pxebootd --version')).stdout, /\d+\.\d+\.\d+/);
    // the bundled Node, not Debian's (which is not even installed)
    assert.equal((await sh('command -v node || echo none')).stdout.trim(), 'none');
    assert.ok((await sh('test -d /var/lib/pxebootd && echo yes')).stdout.includes('yes'));
  }, 10 * 60_000);

  await step('no service other than pxebootd became enabled by the package (the Recommended NFS server enables its own)', async () => {
    const after = (await sh(ENABLED)).stdout;
    const added = after.split('\n').filter((u) => u && !before.split('\n').includes(u));
    assert.ok(added.includes('pxebootd.service'), `pxebootd.service enabled: ${added.join(' ')}`);
    // every other new link belongs to a unit of nfs-kernel-server's dependency chain (Recommends)
    const owners = new Map<string, string>();
    for (const u of added.filter((x) => x !== 'pxebootd.service')) {
      const o = await sh(`dpkg -S /lib/systemd/system/${u} | cut -d: -f1`, { ok: false });
      owners.set(u, o.stdout.trim());
    }
    for (const [u, o] of owners) assert.ok(['nfs-kernel-server', 'nfs-common', 'rpcbind'].includes(o), `${u} (from ${o || 'no package'}) was enabled`);
    for (const s of ['dnsmasq', 'tftpd-hpa', 'isc-dhcp-server', 'kea-dhcp4-server', 'nfs-ganesha']) {
      assert.notEqual((await sh(`dpkg-query -W -f='\${db:Status-Status}' ${s} 2>/dev/null`, { ok: false })).stdout.trim(), 'installed', `${s} (Suggests) was installed`);
    }
  });

  await step('systemd-analyze verify: the installed unit is clean', async () => {
    const r = await sh('systemd-analyze verify pxebootd.service 2>&1', { ok: false });
    assert.deepEqual(r.stdout.split('\n').filter((l) => l.includes('pxebootd')), []);
    assert.equal(r.code, 0, r.stdout);
  });

  await step('a config from the shipped example; systemctl enable --now pxebootd; active', async () => {
    // the shipped config names a memtest image for one host: drop the host rules, make the root
    await sh(`mkdir -p /netboot/root/etc /netboot/root/sbin && echo lower > /netboot/root/etc/motd && sed -i '/^hosts:/,$d' ${CONF} && pxebootd check`);
    await sh('systemctl enable --now pxebootd', { timeoutMs: 5 * 60_000 });
    // Type=notify: enable --now returned after READY=1, so the control socket answers at once
    assert.equal((await sh('systemctl is-active pxebootd', { ok: false })).stdout.trim(), 'active');
    assert.match((await sh('pxebootd status')).stdout, /from the running daemon/);
  });

  await step('a lease in the configured leases file becomes a ready node with its overlay mounted in the system', async () => {
    await sh(`mkdir -p /var/lib/misc && echo "$(( $(date +%s) + 3600 )) 52:54:00:12:34:05 10.0.0.5 node5 *" > ${LEASES}`);
    let st = '';
    for (let i = 0; i < 120 && !/"state":"ready"/.test(st); i++) {
      st = (await sh('pxebootd status 10.0.0.5 --json', { ok: false })).stdout;
      if (!/"state":"ready"/.test(st)) await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(st, /"state":"ready"/, st);
    // PID 1's mount namespace: what the NFS server sees (no mount-namespace hardening in the unit)
    const mi = (await sh('cat /proc/1/mountinfo')).stdout;
    assert.match(mi, / \/netboot\/node\/0A000005 .* - overlay overlay .*upperdir=\/netboot\/overlay\/0A000005\/upper/);
    assert.match((await sh('cat /netboot/node/0A000005/etc/motd')).stdout, /^lower$/m);
    assert.match((await sh('cat /etc/exports.d/pxebootd.exports')).stdout, /^\/netboot\/node\/0A000005 10\.0\.0\.5\(.*fsid=10000\)$/m);
    assert.match((await sh('cat /var/lib/nfs/etab')).stdout, /^\/netboot\/node\/0A000005\t10\.0\.0\.5\(/m);
    assert.match((await sh('cat /srv/tftp/pxelinux.cfg/01-52-54-00-12-34-05')).stdout, /nfsroot=10\.0\.0\.1:\/netboot\/node\/0A000005/);
  });

  await step('systemctl reload: a good config is taken; a broken one fails the reload, the daemon stays active and the journal lists every problem', async () => {
    await sh(`cp ${CONF} /root/good.yaml && sed -i 's/console: ttyS0/console: ttyS1/' ${CONF}`);
    await sh('systemctl reload pxebootd');
    let pxe = '';
    for (let i = 0; i < 60 && !pxe.includes('ttyS1'); i++) {
      pxe = (await sh('cat /srv/tftp/pxelinux.cfg/01-52-54-00-12-34-05')).stdout;
      if (!pxe.includes('ttyS1')) await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(pxe, /console=ttyS1/);
    const pid = (await sh('systemctl show -p MainPID --value pxebootd')).stdout.trim();
    // three problems at once: host bits, a misspelt key (and so a missing one)
    await sh(`sed -i -e 's#cidr: 10.0.0.0/24#cidr: 10.0.0.5/24#' -e 's/^server:/sever:/' ${CONF}`);
    const bad = await sh('systemctl reload pxebootd', { ok: false });
    assert.notEqual(bad.code, 0, 'reload with a broken config must fail');
    assert.equal((await sh('systemctl is-active pxebootd', { ok: false })).stdout.trim(), 'active');
    assert.equal((await sh('systemctl show -p MainPID --value pxebootd')).stdout.trim(), pid, 'same process: not restarted');
    const journal = (await sh('journalctl -u pxebootd --no-pager -o cat')).stdout;
    assert.match(journal, /pxebootd\.yaml:\d+:\d+: subnets\[0\]\.cidr: host bits set in 10\.0\.0\.5\/24/);
    assert.match(journal, /pxebootd\.yaml:\d+:\d+: sever: unknown key "sever"/);
    assert.match(journal, /pxebootd\.yaml:\d+:\d+: server: missing required key "server"/);
    assert.match(journal, /pxebootd check: 3 problems/);
    await sh(`cp /root/good.yaml ${CONF} && systemctl reload pxebootd && systemctl is-active pxebootd`);
  });

  await step('man pxebootd works and bash completion completes commands, options, choices and node IPs', async () => {
    const man = await sh('MANWIDTH=100 man pxebootd 2>&1');
    for (const s of ['PXEBOOTD(8)', 'COMMANDS', 'import-legacy', 'CONFIGURATION', 'overlay_dir']) assert.ok(man.stdout.includes(s), s);
    const complete = async (words: string[]) => {
      const script = `source /usr/share/bash-completion/completions/pxebootd; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _pxebootd; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return (await sh(`bash -c ${"'" + script.replace(/'/g, `'\\''`) + "'"}`)).stdout.trim().split('\n').filter(Boolean);
    };
    assert.deepEqual(await complete(['pxebootd', 'rel']), ['release']);
    assert.deepEqual(await complete(['pxebootd', 'explain', '10.0.']), ['10.0.0.5']);
    assert.deepEqual(await complete(['pxebootd', 'status', '']), ['10.0.0.5']);
    assert.deepEqual(await complete(['pxebootd', 'release', '--policy', 'u']), ['unexport']);
    assert.ok((await complete(['pxebootd', 'status', '--'])).includes('--json'));
  });

  await step('apt-get remove: the daemon stops; mounts, exports, state and config stay, and it says how to take them down', async () => {
    const r = await sh('DEBIAN_FRONTEND=noninteractive apt-get remove -y pxebootd');
    assert.match(r.stdout, /1 node overlay\(s\) stay mounted and exported/);
    assert.match(r.stdout, /pxebootd release --all/);
    assert.equal((await sh('systemctl is-active pxebootd', { ok: false })).stdout.trim(), 'inactive');
    assert.match((await sh('cat /proc/1/mountinfo')).stdout, / \/netboot\/node\/0A000005 /);
    assert.match((await sh('cat /etc/exports.d/pxebootd.exports')).stdout, /0A000005/);
    await sh('test -f /var/lib/pxebootd/state.json && test -f /etc/pxebootd/pxebootd.yaml && test ! -e /usr/bin/pxebootd');
  });

  await step('apt-get purge with an overlay still mounted keeps /var/lib/pxebootd and says why; overlay_dir is never touched', async () => {
    const r = await sh('DEBIAN_FRONTEND=noninteractive apt-get purge -y pxebootd');
    assert.match(r.stdout, /keeping \/var\/lib\/pxebootd: 1 node overlay\(s\) of pxebootd are still mounted/);
    await sh('test -f /var/lib/pxebootd/fsids.json && test ! -e /etc/pxebootd && test -d /netboot/overlay/0A000005/upper');
    assert.equal((await sh(ENABLED)).stdout.includes('pxebootd.service'), false);
    await sh('test ! -e /etc/systemd/system/pxebootd.service');
  });

  await step('reinstalled, its node unmounted by hand, purge removes /var/lib/pxebootd and still leaves overlay_dir', async () => {
    await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y /root/${path.basename(deb)}`, { timeoutMs: 5 * 60_000 });
    await sh('systemctl stop pxebootd; umount /netboot/node/0A000005; echo written-by-node > /netboot/overlay/0A000005/upper/kept');
    await sh('DEBIAN_FRONTEND=noninteractive apt-get purge -y pxebootd');
    await sh('test ! -e /var/lib/pxebootd && test ! -e /etc/pxebootd && test -f /netboot/overlay/0A000005/upper/kept');
  });
});
