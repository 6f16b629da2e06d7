// `pxebootd status` against a real daemon process (`run --dry-run`) holding 1,500 nodes from a
// state file: naming one node asks the daemon for that node only, an unknown node exits 1, and the
// full JSON and table are streamed and complete; without a daemon the JSON still has `daemon`.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, startDaemon, waitFor } from '../../helpers/lab.ts';
import { sendControl } from '../../../src/control.ts';
import { CLI, makeLab, type Lab } from './cli-lab.ts';

after(cleanupAll);
requireRoot();

const N = 1500;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI with stdout gathered in full (status of every node is larger than execFile's buffer). */
function run(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
  });
}

/** Node i of the state file: 10.98.x.y in the lab's extra /20, ready or released (which a restart leaves alone), with a timeline. */
function record(i: number): Record<string, unknown> {
  const ip = `10.98.${(i >> 8) & 15}.${i & 255}`;
  const h = (n: number) => n.toString(16).padStart(2, '0');
  const name = ip
    .split('.')
    .map((p) => h(Number(p)).toUpperCase())
    .join('');
  return {
    name,
    ip,
    mac: `52:54:00:98:${h((i >> 8) & 255)}:${h(i & 255)}`,
    hostname: `n${i}`,
    subnet: '10.98.0.0/20',
    state: i % 10 === 0 ? 'released' : 'ready',
    fsid: 5000 + i,
    lastSeen: Date.now() - 1000,
    sources: ['dnsmasq-leases:/x/dnsmasq.leases'],
    timeline: [{ time: 1, what: 'dnsmasq-leases seen', source: 'dnsmasq-leases:/x/dnsmasq.leases' }, { time: 2, what: 'ready' }],
    ...(i % 10 === 0 ? { lastError: `exportfs: exited with code 1 (node ${i})` } : {}),
  };
}

function makeScaleLab(): { lab: Lab; records: Array<Record<string, unknown>> } {
  const lab = makeLab({
    subnetExtra: ['  - cidr: 10.98.0.0/20', '    root_dir: root', '    node_dir: run/node', '    overlay_dir: run/overlay', '    pxe_template: templates/pxelinux.cfg.template', '    vars: { kernel: vmlinuz }', ''].join('\n'),
  });
  const records = Array.from({ length: N }, (_, i) => record(i + 1));
  mkdirSync(path.dirname(lab.stateFile), { recursive: true });
  writeFileSync(lab.stateFile, JSON.stringify({ version: 1, nextFsid: 5000 + N + 1, fsids: {}, nodes: records }));
  return { lab, records };
}

describe('status at scale', () => {
  test('status IP|MAC|NODE asks for one node; unknown exits 1; --json and the table stream every node; no daemon still has `daemon`', async () => {
    const { lab, records } = makeScaleLab();
    const logFile = path.join(lab.dir, 'daemon.log');
    const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '--dry-run', '-c', lab.config], { logFile });
    const probe = records[700]!;
    let exited = false;
    void d.exited.then(() => (exited = true));
    await Promise.race([
      d.exited.then(() => {
        throw new Error(`daemon exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      }),
      waitFor(
      'dry-run daemon answering with its nodes',
      async () => {
        if (exited) return true;
        try {
          const r = await sendControl(lab.socket, { op: 'status', node: probe.ip as string });
          return (r.daemon as { pid?: number; watching?: boolean } | undefined)?.watching === true;
        } catch {
          return false;
        }
      },
      60_000,
      100,
    ),
    ]);

    // what the daemon sends for one node: that node only, for an IP, a MAC and a name
    for (const q of [probe.ip, (probe.mac as string).toUpperCase().replace(/:/g, '-'), (probe.name as string).toLowerCase()] as string[]) {
      const r = await sendControl(lab.socket, { op: 'status', node: q });
      assert.equal(r.ok, true);
      assert.equal((r.nodes as unknown[]).length, 1, `daemon answer for ${q}`);
      assert.equal((r.nodes as Array<{ name: string }>)[0]!.name, probe.name);
    }
    const none = await sendControl(lab.socket, { op: 'status', node: '10.98.15.250' });
    assert.deepEqual(none.nodes, []);

    // the CLI: one node as JSON and as a table with its timeline
    const oneJson = await run(['status', probe.ip as string, '--json', '-c', lab.config]);
    assert.equal(oneJson.code, 0, oneJson.stderr);
    const one = JSON.parse(oneJson.stdout) as { from: string; daemon: { pid: number }; nodes: Array<{ name: string }> };
    assert.equal(one.from, 'daemon');
    assert.equal(one.daemon.pid, d.pid);
    assert.deepEqual(one.nodes.map((n) => n.name), [probe.name]);
    const oneTable = await run(['status', probe.mac as string, '-c', lab.config]);
    assert.equal(oneTable.code, 0, oneTable.stderr);
    assert.match(oneTable.stdout, new RegExp(`^${probe.name}\\s+${probe.mac}\\s+${(probe.ip as string).replace(/\./g, '\\.')}\\s`, 'm'));
    assert.match(oneTable.stdout, /^1 node \(1 ready/m);
    assert.match(oneTable.stdout, /timeline of /);

    // an unknown node: a message and exit 1, with or without --json
    for (const args of [['status', '10.66.0.99'], ['status', '10.66.0.99', '--json']]) {
      const r = await run([...args, '-c', lab.config]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout.slice(0, 200)}`);
      assert.match(r.stderr, /no node 10\.66\.0\.99/);
      assert.equal(r.stdout, '');
    }

    // every node as JSON: a valid document with from, daemon and every record
    const all = await run(['status', '--json', '-c', lab.config]);
    assert.equal(all.code, 0, all.stderr);
    const doc = JSON.parse(all.stdout) as { from: string; daemon: { pid: number; watching: boolean }; nodes: Array<Record<string, unknown>> };
    assert.deepEqual(Object.keys(doc), ['from', 'daemon', 'nodes']);
    assert.equal(doc.from, 'daemon');
    assert.equal(doc.daemon.pid, d.pid);
    assert.equal(doc.nodes.length, N);
    const byName = new Map(doc.nodes.map((n) => [n.name, n]));
    for (const r of [records[0]!, probe, records[N - 1]!]) {
      assert.equal(byName.get(r.name)?.ip, r.ip);
      assert.deepEqual(byName.get(r.name)?.timeline, r.timeline);
    }

    // every node as a table: a header, one line per node in name order, the summary
    const table = await run(['status', '-c', lab.config]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NODE\s+MAC\s+IP\s+HOSTNAME/);
    assert.equal(lines.length, N + 2);
    const names = lines.slice(1, -1).map((l) => l.split(/\s+/)[0]!);
    assert.deepEqual(names, records.map((r) => r.name as string).sort());
    assert.match(lines.at(-1)!, new RegExp(`^${N} nodes \\(${N - N / 10} ready, 0 pending, 0 failed, ${N / 10} released\\) from the running daemon`));

    // a reader that goes away early: no stack trace, exit 0
    const early = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, 'status', '--json', '-c', lab.config], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      p.stdout.once('data', () => p.stdout.destroy());
      p.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(early.code, 0, early.stderr);
    assert.doesNotMatch(early.stderr, /EPIPE|at /);

    // no daemon: the state file, and the document still has `daemon`
    await d.stop();
    const off = await run(['status', '--json', '-c', lab.config]);
    assert.equal(off.code, 0, off.stderr);
    const offDoc = JSON.parse(off.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(offDoc), ['from', 'daemon', 'nodes']);
    assert.equal(offDoc.from, 'state-file');
    assert.equal(offDoc.daemon, null);
    assert.equal((offDoc.nodes as unknown[]).length, N);
    const offOne = await run(['status', probe.ip as string, '--json', '-c', lab.config]);
    assert.equal(offOne.code, 0, offOne.stderr);
    assert.deepEqual((JSON.parse(offOne.stdout) as { nodes: Array<{ name: string }> }).nodes.map((n) => n.name), [probe.name]);
    const offNone = await run(['status', '10.66.0.99', '-c', lab.config]);
    assert.equal(offNone.code, 1);
    assert.match(offNone.stderr, /no node 10\.66\.0\.99/);
  });
});
