// Attacks on the dhcp-snoop source, against the real daemon: a DHCPRELEASE from an unprivileged local
// user (to 127.0.0.1:67 and to the interface's address) must not reach snoop; a RELEASE from a host
// on the wire must not destroy anything either (snoop is not an authoritative source); a DISCOVER
// flood admits new clients only at the documented rate; option 50 = 0.0.0.0 / 255.255.255.255 is no
// address; packets on another interface or from a port other than 68 are ignored; a real udhcpc
// asking for an address is still seen.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { asNobody } from '../../helpers/as-nobody.ts';
import { cleanupAll, onCleanup, requireRoot, requireTool, sh, uniq, waitFor, type Daemon } from '../../helpers/lab.ts';
import { makeLab, writeConfig, type BenchLab } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { SNOOP_ADMIT_DEFAULTS } from '../../../watchers/dhcp/admission.ts';

after(cleanupAll);

const SENDER = path.join(import.meta.dirname, 'snoop-sender.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Link {
  /** the client's namespace */
  ns: string;
  /** the host end of the veth, in the test's own namespace */
  hostIf: string;
  hostIp: string;
}

/** A client namespace joined to this namespace by a veth whose host end is `hostIf` (third octet random). */
function makeLink(tag: string, net: number, mac: string): Link {
  const id = uniq();
  const ns = `pxsp-${tag}-${id}`;
  const hostIf = `${tag}${id}`.slice(0, 15);
  const third = Math.floor(Math.random() * 250) + 1;
  const hostIp = `10.${net}.${third}.1`;
  sh('ip', ['netns', 'add', ns]);
  onCleanup(`netns ${ns}`, () => sh('ip', ['netns', 'del', ns], { allowFail: true }));
  sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  onCleanup(`link ${hostIf}`, () => sh('ip', ['link', 'del', hostIf], { allowFail: true }));
  sh('ip', ['addr', 'add', `${hostIp}/24`, 'dev', hostIf]);
  sh('ip', ['link', 'set', hostIf, 'up']);
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', mac, 'up']);
  sh('ip', ['-n', ns, 'addr', 'add', `10.${net}.${third}.2/24`, 'dev', 'eth0']);
  // 255.255.255.255 leaves through eth0, as a DHCP client's broadcasts do
  sh('ip', ['-n', ns, 'route', 'add', 'default', 'dev', 'eth0']);
  return { ns, hostIf, hostIp };
}

interface Pkt {
  type: number;
  mac: string;
  requested?: string;
  ciaddr?: string;
}

/** Run the sender; `as`: root inside `ns` (a host on the wire) or `nobody` on this host. */
function send(spec: { to: string[]; fromPort?: number; packets?: Pkt[]; flood?: { n: number; macPrefix: string; ipPrefix: string } }, as: { ns: string } | 'nobody'): void {
  const argv = [process.execPath, SENDER, JSON.stringify(spec)];
  const full = as === 'nobody' ? asNobody(argv) : ['ip', 'netns', 'exec', as.ns, ...argv];
  const out = execFileSync(full[0]!, full.slice(1), { encoding: 'utf8', timeout: 60_000 });
  assert.match(out, /^SENT \d+/m, `sender: ${out}`);
}

/** Broadcast from the client namespace, from UDP port 68 like a DHCP client. */
const fromClient = (l: Link, packets: Pkt[], fromPort = 68) => send({ to: ['255.255.255.255'], fromPort, packets }, { ns: l.ns });

describe('dhcp-snoop under attack, real daemon', { timeout: 240_000 }, () => {
  let lab: BenchLab;
  let cfg: string;
  let log: string;
  let wire: Link;
  let other: Link;
  let daemon: Daemon;
  const NODE_MAC = '52:54:00:5e:00:01';
  const NODE_IP = '10.99.0.10';
  const NODE = '0A63000A';
  let marker: string;
  let control = 0;

  const nodes = () => statusJson(cfg) as Array<{ name?: string; ip?: string; mac?: string; state?: string }>;
  const nodeByMac = (mac: string) => nodes().find((n) => n.mac === mac);

  /** A DISCOVER from the wire for a fresh MAC must become a node: snoop is alive and has read what came before. */
  async function snoopControl(): Promise<void> {
    control++;
    const mac = `52:54:00:5e:01:${control.toString(16).padStart(2, '0')}`;
    fromClient(wire, [{ type: 1, mac, requested: `10.99.1.${control}` }]);
    await waitFor(`the control DISCOVER ${mac} to become a node`, () => nodeByMac(mac), 30_000, 200);
  }

  /** The ready node still has its upper layer and stays ready, a while after the attack. */
  async function nodeSurvives(what: string): Promise<void> {
    await sleep(1500); // a release job, had one been queued, runs within this on an idle daemon
    assert.ok(existsSync(marker), `${what}: the node's upper layer was deleted`);
    const n = nodes().find((x) => x.name === NODE);
    assert.equal(n?.state, 'ready', `${what}: node ${NODE} is ${n?.state}`);
    assert.doesNotMatch(readFileSync(log, 'utf8'), /deleted the writable layer/, `${what}: the daemon deleted a layer`);
  }

  before(async () => {
    requireRoot();
    requireTool('setpriv');
    lab = makeLab('snoopspoof');
    wire = makeLink('pxs', 96, '52:54:00:5e:ff:01');
    other = makeLink('pxo', 95, '52:54:00:5e:ff:02');
    cfg = writeConfig(lab, { onRelease: 'remove', sources: [`  - { type: dhcp-snoop, interface: ${wire.hostIf} }`] });
    // a rule for every address, so that a client at 0.0.0.0 would be provisioned if snoop made one
    writeFileSync(cfg, `${readFileSync(cfg, 'utf8')}  - { cidr: 0.0.0.0/0, root_dir: ${lab.lower}, node_dir: ${lab.nodeDir}, overlay_dir: ${lab.overlayDir}, pxe_template: ${lab.template} }\n`);
    log = path.join(lab.dir, 'pxebootd.log');
    daemon = await startPxebootd(cfg, lab.socket, log, [], [], 'info');
    // the node comes from an authoritative source (the lease file) and is ready, with data in its upper layer
    writeFileSync(lab.leases, `${Math.floor(Date.now() / 1000) + 3600} ${NODE_MAC} ${NODE_IP} victim *\n`);
    await waitFor(`node ${NODE} ready`, () => nodes().find((n) => n.name === NODE && n.state === 'ready'), 60_000, 200);
    marker = path.join(lab.overlayDir, NODE, 'upper', 'data-that-must-survive');
    writeFileSync(marker, 'precious\n');
  });

  after(async () => {
    await daemon?.stop();
  });

  test('an unprivileged local user sends DHCPRELEASE to 127.0.0.1:67 and the interface address: nothing is released', async () => {
    send({ to: ['127.0.0.1', wire.hostIp], packets: [{ type: 7, mac: NODE_MAC, ciaddr: NODE_IP }] }, 'nobody');
    await snoopControl();
    await nodeSurvives('RELEASE from nobody');
    const n = nodes().find((x) => x.name === NODE) as { timeline?: Array<{ what: string }> } | undefined;
    assert.ok(!JSON.stringify(n ?? {}).includes('DHCPRELEASE'), 'the local RELEASE reached the node\'s timeline: snoop took it');
  });

  test('a DHCPRELEASE from a host on the wire (port 68, node\'s MAC and IP) destroys nothing: snoop is not authoritative', async () => {
    fromClient(wire, [{ type: 7, mac: NODE_MAC, ciaddr: NODE_IP }]);
    await snoopControl();
    await nodeSurvives('RELEASE from the wire');
  });

  test('DISCOVER with option 50 = 0.0.0.0 or 255.255.255.255 creates no client at that address', async () => {
    fromClient(wire, [
      { type: 1, mac: '52:54:00:5e:02:01', requested: '0.0.0.0' },
      { type: 1, mac: '52:54:00:5e:02:02', requested: '255.255.255.255' },
      { type: 3, mac: '52:54:00:5e:02:03', requested: '0.0.0.0', ciaddr: '0.0.0.0' },
    ]);
    await snoopControl();
    await sleep(500);
    const bad = nodes().filter((n) => n.ip === '0.0.0.0' || n.ip === '255.255.255.255' || n.mac?.startsWith('52:54:00:5e:02:'));
    assert.deepEqual(bad, []);
  });

  test('a DISCOVER on another interface, or from a port other than 68, is ignored', async () => {
    send({ to: ['255.255.255.255'], fromPort: 68, packets: [{ type: 1, mac: '52:54:00:5e:03:01', requested: '10.99.3.1' }] }, { ns: other.ns });
    fromClient(wire, [{ type: 1, mac: '52:54:00:5e:03:02', requested: '10.99.3.2' }], 6800);
    // 67 -> 67 is a relay agent's or server's packet, not a client's
    fromClient(wire, [{ type: 1, mac: '52:54:00:5e:03:03', requested: '10.99.3.3' }], 67);
    await snoopControl();
    await sleep(500);
    assert.deepEqual(nodes().filter((n) => n.mac?.startsWith('52:54:00:5e:03:')), []);
  });

  test('a real udhcpc asking for an address is seen and provisioned', async () => {
    requireTool('busybox');
    // no DHCP server answers: udhcpc keeps broadcasting DISCOVERs with option 50 from -r
    sh('ip', ['-n', wire.ns, 'addr', 'flush', 'dev', 'eth0']);
    sh('ip', ['netns', 'exec', wire.ns, 'busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '2', '-T', '1', '-A', '1', '-s', '/bin/true', '-r', '10.99.4.7'], { allowFail: true });
    const n = await waitFor('the udhcpc client as a node', () => nodeByMac('52:54:00:5e:ff:01'), 30_000, 200);
    assert.equal(n.ip, '10.99.4.7');
    sh('ip', ['-n', wire.ns, 'addr', 'add', `${wire.hostIp.replace(/\.1$/, '.2')}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', wire.ns, 'route', 'replace', 'default', 'dev', 'eth0']);
  });

  test('a flood of DISCOVERs with option 50 admits new clients only at the rate limit, and says so in one line', async () => {
    const n = 300;
    const { burst, perSecond } = SNOOP_ADMIT_DEFAULTS;
    const t0 = Date.now();
    send({ to: ['255.255.255.255'], fromPort: 68, flood: { n, macPrefix: '52:54:00:5f', ipPrefix: '10.99' } }, { ns: wire.ns });
    await sleep(2000);
    const count = () => nodes().filter((x) => x.mac?.startsWith('52:54:00:5f:')).length;
    const got = count();
    const elapsed = (Date.now() - t0) / 1000;
    // tokens: the burst plus the refill over the whole time since the flood began, plus slack for the status call
    const bound = burst + Math.ceil(perSecond * (elapsed + 2));
    assert.ok(got >= 1, 'some of the flood was admitted (snoop is alive)');
    assert.ok(got <= bound, `${got} of ${n} flooded clients became nodes in ${elapsed.toFixed(1)} s; at most ${bound} allowed (burst ${burst}, ${perSecond}/s)`);
    const summary = await waitFor(
      'one summary line of what snoop dropped',
      () => readFileSync(log, 'utf8').split('\n').filter((l) => /dhcp-snoop dropped .*new clients? over the rate limit/.test(l)),
      30_000,
      200,
    );
    // one line per 10 s period: the flood and the status calls fit in one or two
    assert.ok(summary.length <= 2, `snoop logged ${summary.length} summary lines for one flood`);
  });
});
