// dnsmasq --dhcp-script end to end: a real dnsmasq runs a wrapper that runs `pxebootd hook "$@"`,
// which forwards argv + DNSMASQ_* env over the control socket to a running `pxebootd run`. A real
// udhcpc lease makes the node appear (sources: hook:dnsmasq), and dnsmasq's own TFTP "tftp" action
// reaches the daemon too. With no daemon, the hook exits 0 at once with a warning.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, requireRoot, requireTool, startDaemon, waitFor } from '../../helpers/lab.ts';
import { runUdhcpc, startDnsmasq } from '../../helpers/dnsmasq.ts';
import { tftpGet } from '../../helpers/tftpd.ts';
import { CLI, cli, makeLab } from '../cli/cli-lab.ts';

after(cleanupAll);

interface StatusNode {
  name: string;
  mac?: string;
  ip: string;
  hostname?: string;
  state: string;
  sources: string[];
  timeline?: Array<{ time: number; what: string; source?: string }>;
}

function writeWrapper(dir: string, config: string): { script: string; calls: string } {
  const script = path.join(dir, 'dhcp-script.sh');
  const calls = path.join(dir, 'dhcp-script.calls');
  writeFileSync(calls, '');
  // dnsmasq runs the script as root with its DNSMASQ_* environment; we record each call, then hand over
  writeFileSync(script, `#!/bin/sh\necho "$* vc=$DNSMASQ_VENDOR_CLASS" >> '${calls}'\nexec '${process.execPath}' '${CLI}' hook -c '${config}' "$@"\n`, { mode: 0o755 });
  return { script, calls };
}

async function statusNodes(config: string): Promise<StatusNode[]> {
  const r = await cli(['status', '--json', '-c', config]);
  if (r.code !== 0) throw new Error(`status failed (${r.code}): ${r.stderr}`);
  const o = JSON.parse(r.stdout) as { nodes?: StatusNode[] } | StatusNode[];
  return Array.isArray(o) ? o : (o.nodes ?? []);
}

describe('dnsmasq dhcp-script -> pxebootd hook -> daemon', () => {
  test('a real lease makes the node appear through the hook; TFTP transfers arrive as tftp actions', async () => {
    requireRoot();
    requireTool('dnsmasq');
    const lab = makeLab();
    chmodSync(lab.dir, 0o755);
    chmodSync(lab.tftp, 0o755); // dnsmasq serves TFTP as "nobody"
    const daemon = startDaemon('pxebootd run', [process.execPath, CLI, 'run', '-c', lab.config], { logFile: path.join(lab.dir, 'daemon.log') });
    await waitFor('the control socket', () => {
      if (daemon.child.exitCode !== null) throw new Error(`pxebootd run exited: ${readFileSync(daemon.logFile, 'utf8')}`);
      return existsSync(lab.socket);
    }, 20_000);
    const { script, calls } = writeWrapper(lab.dir, lab.config);
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:21' });
    const d = await startDnsmasq({ netns: pair.srv, dhcpScript: script, tftpRoot: lab.tftp, dir: path.join(lab.dir, 'dnsmasq') });
    const lease = await runUdhcpc(pair.cli, { hostname: 'node21' });
    const node = await waitFor('the node in pxebootd status', async () => (await statusNodes(lab.config)).find((n) => n.mac === '52:54:00:aa:bb:21'), 20_000);
    assert.equal(node.ip, lease.ip);
    assert.ok(node.sources.some((s) => s.startsWith('hook')), `sources: ${node.sources.join(',')}`);
    assert.match(readFileSync(calls, 'utf8'), new RegExp(`^add 52:54:00:aa:bb:21 ${lease.ip.replace(/\./g, '\\.')} node21`, 'm'));
    assert.equal(node.hostname, 'node21');
    const ready = await waitFor('the node ready', async () => (await statusNodes(lab.config)).find((n) => n.mac === '52:54:00:aa:bb:21' && n.state === 'ready'), 30_000);
    assert.equal(ready.state, 'ready');
    // the daemon wrote the node's boot file; dnsmasq serves it and calls the script with "tftp"
    const got = tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/01-52-54-00-aa-bb-21');
    assert.ok(got.ok, got.error);
    await waitFor('the tftp action', () => readFileSync(calls, 'utf8').includes(`tftp `), 10_000);
    assert.match(readFileSync(calls, 'utf8'), new RegExp(`^tftp \\d+ ${lease.ip.replace(/\./g, '\\.')} ${lab.tftp.replace(/[.]/g, '\\.')}/pxelinux\\.cfg/01-52-54-00-aa-bb-21`, 'm'));
    // the daemon took it in as an event of the node's boot timeline
    const entry = await waitFor('the tftp entry in the node timeline', async () => {
      const n = (await statusNodes(lab.config)).find((x) => x.mac === '52:54:00:aa:bb:21');
      return n?.timeline?.find((t) => t.what === 'tftp pxelinux.cfg/01-52-54-00-aa-bb-21');
    }, 10_000);
    assert.equal(entry.source, 'hook:dnsmasq');
    await d.stop();
    await daemon.stop();
  });

  test('with no daemon running the hook exits 0 fast with a warning', async () => {
    const lab = makeLab();
    const r = await cli(['hook', '-c', lab.config, 'add', '52:54:00:aa:bb:22', '10.99.0.22', 'node22'], { env: { ...process.env, DNSMASQ_VENDOR_CLASS: 'PXEClient:Arch:00000:UNDI:002001' } });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /pxebootd hook: event not delivered/);
    // generous bound (a cold Node start is ~100-300 ms here); dnsmasq waits for the script
    assert.ok(r.ms < 3000, `took ${r.ms} ms`);
    console.log(`hook without daemon: exit ${r.code} in ${r.ms} ms`);
  });
});
