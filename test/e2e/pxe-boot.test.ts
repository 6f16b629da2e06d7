// End to end: real PXE clients (QEMU + iPXE) boot through dnsmasq / tftpd-hpa into NFS roots that
// pxebootd, built from this checkout, prepares from what it reads in the daemons' real files.
// Scenarios share one lab and run in order: lease path (VM1), restart while VM1 runs, log path
// (VM2, pxebootd sees only the TFTP log), isolation. Timelines land in .cache/e2e/last-run/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { sh } from '../helpers/lab.ts';
import { E2E_CACHE, REPO_ROOT, hashTree } from '../helpers/e2e-assets.ts';
import { startVm, type Vm, type VmResult } from '../helpers/qemu.ts';
import { ipToHex, macHyphen } from '../../src/validate.ts';
import { finishLab, labConfig, leaseSource, pxeNfsrootTemplate, startPxeLab, SERVER_IP, VM1, VM2, type LabVm, type PxeLab } from './pxe-lab.ts';
import { startPxebootd, pxebootdStatus, pxebootdEntry, type PxebootdProc } from './pxebootd-proc.ts';
import { annotateRrqs, collapseHexChain, parseTcpdump, pxebootdEvents, renderMilestones, renderTimeline, serialEvents, Stamper, tftpOutcomes, type TimelineEvent } from './timeline.ts';

const VM_TIMEOUT_MS = 150_000;
/** VM1 waits this long between its two writes: the restart scenario kills pxebootd meanwhile */
const HOLD_S = 12;
const LAST_RUN = path.join(E2E_CACHE, 'last-run');
/** what a guest kernel prints when its NFS root goes bad (new fsid, lost export, dead server) */
const NFS_TROUBLE = /Stale file handle|ESTALE|server \S+ not responding|I\/O error|Input\/output error/;

let lab: PxeLab;
let px: PxebootdProc | undefined;
let pxRuns = 0;
const pxPids: number[] = [];
let cfgLeases = '';
let cfgSyslog = '';
let lowerHash = '';
const timelines = new Map<string, string>();
const boots = new Map<string, Boot>();

const nodeOf = (vm: LabVm) => ipToHex(vm.ip);
const upperFile = (vm: LabVm, f = 'written-by-guest') => path.join(lab.overlayDir, nodeOf(vm), 'upper', f);
const nodeMount = (vm: LabVm) => path.join(lab.nodeDir, nodeOf(vm));
const bootFile = (vm: LabVm) => path.join(lab.tftpRoot, 'pxelinux.cfg', `01-${macHyphen(vm.mac)}`);
const hexBootFile = (vm: LabVm) => path.join(lab.tftpRoot, 'pxelinux.cfg', nodeOf(vm));
const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const pxLogs = () => Array.from({ length: pxRuns }, (_, i) => read(path.join(lab.dir, `pxebootd-${i + 1}.log`))).join('');
const exportBlock = (vm: LabVm) => read(lab.exportsFile).split('\n').filter((l) => l.startsWith('EXPORT {') && l.includes(`Path = "${nodeMount(vm)}"`));
const mountCount = (vm: LabVm) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === nodeMount(vm)).length;

const PXE_TEMPLATE = pxeNfsrootTemplate('e2e');


async function startPx(configFile: string): Promise<PxebootdProc> {
  pxRuns += 1;
  const logFile = path.join(lab.dir, `pxebootd-${pxRuns}.log`);
  const p = await startPxebootd(configFile, logFile, () => /"msg":"pxebootd started"/.test(read(logFile)));
  pxPids.push(p.pid);
  return p;
}

interface Boot {
  vm: LabVm;
  run: Vm;
  stamps: Stamper;
  result?: VmResult;
  /** set if the boot file appeared while the node's export block was not yet in the exports file */
  configBeforeExport: boolean;
}

/** Start polling server-side witnesses for `vm`, then power it on. */
function boot(vm: LabVm): Boot {
  const stamps = new Stamper(10);
  const b: Boot = { vm, run: undefined as unknown as Vm, stamps, configBeforeExport: false };
  stamps.watch('server', 'dnsmasq lease line written', () => read(lab.dnsmasq.leaseFile).includes(vm.mac));
  stamps.watch('server', `overlay mounted at node_dir/${nodeOf(vm)}`, () => mountCount(vm) > 0);
  stamps.watch('server', 'EXPORT block in ganesha include file', () => exportBlock(vm).length > 0);
  stamps.watch('server', 'boot file pxelinux.cfg/(01-<mac>|<HEX>) written', () => {
    const there = existsSync(bootFile(vm)) || existsSync(hexBootFile(vm));
    // checked in this order on purpose: boot file seen, and only then the export looked up
    if (there && exportBlock(vm).length === 0) b.configBeforeExport = true;
    return there;
  });
  stamps.watch('server', 'upper/written-by-guest appeared', () => existsSync(upperFile(vm)));
  stamps.watch('server', 'upper/written-by-guest-2 appeared', () => existsSync(upperFile(vm, 'written-by-guest-2')));
  b.run = startVm({ name: vm.name, netns: lab.net.srv, bridge: lab.net.bridge, mac: vm.mac, workDir: lab.dir, timeoutMs: VM_TIMEOUT_MS });
  boots.set(vm.name, b);
  return b;
}

async function finish(b: Boot): Promise<VmResult> {
  b.result ??= await b.run.done;
  b.stamps.stop();
  return b.result;
}

/** Everything we know about one boot, in time order, relative to QEMU's start. */
function timelineOf(b: Boot, extra: TimelineEvent[] = []): string {
  const { vm } = b;
  const outcomes = tftpOutcomes(read(lab.tftpd.syslogFile), read(lab.dnsmasq.logFile), lab.tftpRoot, vm.ip);
  const tcp = parseTcpdump(read(lab.tcpdump.file), vm.mac, vm.ip).filter((e) => e.time >= b.run.startedAt);
  const events: TimelineEvent[] = [
    { time: b.run.startedAt, source: 'qemu', what: `${vm.name} (${vm.mac}) powered on, PXE boot` },
    ...collapseHexChain(annotateRrqs(tcp, outcomes)),
    ...serialEvents(b.run.lines),
    ...pxebootdEvents(pxLogs(), [`"${vm.ip}"`, vm.mac, nodeOf(vm)]).filter((e) => e.time >= b.run.startedAt),
    // daemon-wide lines (export reloads, start, restore) inside this boot's window
    ...pxebootdEvents(pxLogs(), ['SIGHUP', '"pxebootd started"', '"restored ', '"pxebootd stopped"']).filter(
      (e) => e.time >= b.run.startedAt && e.time <= (b.result?.endedAt ?? Date.now()),
    ),
    ...b.stamps.events,
    ...extra,
  ];
  if (b.result) events.push({ time: b.result.endedAt, source: 'qemu', what: `exited (code ${b.result.exitCode}${b.result.timedOut ? ', TIMED OUT' : ''})` });
  const title = `${vm.name} (${vm.mac}, ${vm.ip}, node ${nodeOf(vm)})`;
  return `${renderMilestones(`### ${title}: milestones`, b.run.startedAt, events)}\n${renderTimeline(`Full timeline of ${title}:`, b.run.startedAt, events)}`;
}

function nfsLs(ns: string, url: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: sh('timeout', ['20', 'ip', 'netns', 'exec', ns, 'nfs-ls', url]) };
  } catch (e) {
    return { ok: false, out: (e as Error).message };
  }
}

before(async () => {
  lab = await startPxeLab({ holds: { [VM1.ip]: HOLD_S } });
  lowerHash = hashTree(lab.rootDir);
  const pxeTpl = path.join(lab.dir, 'pxelinux.cfg.template');
  // the fallback pxebootd ships: a prompt that times out and chains pxelinux.0 again (a retry)
  const defTpl = path.join(REPO_ROOT, 'etc', 'default.template');
  writeFileSync(pxeTpl, PXE_TEMPLATE);
  const config = (sources: unknown[]) => labConfig(lab, sources, { root_dir: lab.rootDir, pxe_template: pxeTpl }, { default_template: defTpl });
  cfgLeases = path.join(lab.dir, 'pxebootd-leases.yaml');
  cfgSyslog = path.join(lab.dir, 'pxebootd-syslog.yaml');
  writeFileSync(cfgLeases, stringify(config([leaseSource(lab)])));
  // the log path: no lease source at all, only tftpd-hpa's lines through rsyslog
  writeFileSync(cfgSyslog, stringify(config([{ type: 'syslog', path: lab.tftpd.syslogFile }])));
  console.log(`# lab up: ${JSON.stringify(lab.timings)}; pxebootd entry: ${path.relative(REPO_ROOT, pxebootdEntry())}; default template: etc/default.template`);
});

after(async () => {
  for (const b of boots.values()) {
    b.stamps.stop();
    if (!timelines.has(b.vm.name)) timelines.set(b.vm.name, timelineOf(b) + '(scenario did not finish)\n');
  }
  const text = [...timelines.values()].join('\n');
  console.log(text);
  // prove the traps worked: nothing of ours survives (daemons get up to 3 s to be reaped)
  await finishLab(lab, {
    lastRunDir: LAST_RUN,
    texts: { 'timeline.txt': text },
    artefacts: lab ? [[lab.tftpd.syslogFile, 'syslog.log']] : [],
    pids: [...pxPids, ...[...boots.values()].map((b) => b.run.pid)],
    settleMs: 3000,
  });
});

test('lease path: VM1 gets a dnsmasq lease, pxebootd prepares it before pxelinux asks, VM1 writes into its own upper dir', async () => {
  px = await startPx(cfgLeases);
  assert.ok(existsSync(path.join(lab.tftpRoot, 'pxelinux.cfg', 'default')), 'pxebootd owns pxelinux.cfg/default (default_template) and wrote it at start');
  const b = boot(VM1);
  const wrote = await b.run.waitForLine(/E2E-MARKER nfsroot: wrote \/written-by-guest:/, VM_TIMEOUT_MS);
  const nfsPath = nodeMount(VM1);

  const rootLine = b.run.lines.find((l) => /E2E-MARKER nfsroot: root mount:/.test(l.text))?.text ?? '';
  assert.match(rootLine, new RegExp(`root mount: ${SERVER_IP}:${nfsPath} / nfs4 .*clientaddr=${VM1.ip.replace(/\./g, '\\.')}`), 'the guest runs from its own NFSv4 export');
  const upper = await waitForFile(upperFile(VM1), 5000);
  assert.match(upper, new RegExp(`^run=${lab.runId} ip=${VM1.ip} uptime=`), 'the guest\'s file landed in overlay_dir/<NODE>/upper');
  assert.ok(wrote.time > 0);
  assert.equal(hashTree(lab.rootDir), lowerHash, 'the shared root_dir is unchanged');
  assert.equal(b.configBeforeExport, false, 'the boot file never appeared before the node\'s export (config last)');

  const lease = b.stamps.first('dnsmasq lease line written');
  const bootWritten = b.stamps.first('boot file pxelinux.cfg/(01-<mac>|<HEX>) written');
  assert.ok(lease && bootWritten, 'lease and boot file were both seen');
  assert.ok(bootWritten.time >= lease.time, 'the boot file followed the lease');
  // pxelinux asks for 01-<mac> first: pxebootd must have written it by then (lease -> ready well under 100 ms)
  const outcomes = tftpOutcomes('', read(lab.dnsmasq.logFile), lab.tftpRoot, VM1.ip);
  assert.deepEqual(outcomes.get(`pxelinux.cfg/01-${macHyphen(VM1.mac)}`)?.[0], true, 'the first request for pxelinux.cfg/01-<mac> was served');
  assert.equal(outcomes.get('pxelinux.cfg/default'), undefined, 'VM1 never needed the fallback');
});

test('restart: SIGKILL pxebootd while VM1 runs from its root; the restarted daemon changes nothing for VM1', async () => {
  const b = boots.get(VM1.name);
  assert.ok(b, 'VM1 is running (lease path scenario)');
  await b.run.waitForLine(/E2E-MARKER nfsroot: holding/, 30_000);
  assert.equal(b.result, undefined);
  const before = pxebootdStatus(cfgLeases).find((n) => n.ip === VM1.ip);
  assert.ok(before, `status lists ${VM1.ip}`);
  assert.equal(before.state, 'ready');
  const blockBefore = exportBlock(VM1);
  assert.equal(blockBefore.length, 1);
  assert.equal(mountCount(VM1), 1);

  const killedAt = Date.now();
  await px!.kill9();
  px = await startPx(cfgLeases);
  const restartedAt = Date.now();
  const second = await b.run.waitForLine(/E2E-MARKER nfsroot: wrote \/written-by-guest-2:/, 60_000);
  const res = await finish(b);
  timelines.set(VM1.name, timelineOf(b, [
    { time: killedAt, source: 'test', what: 'pxebootd SIGKILLed' },
    { time: restartedAt, source: 'test', what: 'pxebootd restarted ("pxebootd started" logged)' },
  ]));

  assert.ok(second.time > restartedAt, 'the guest\'s second write came after the restart (its NFS root lived through it)');
  assert.equal(res.timedOut, false);
  assert.equal(res.exitCode, 0, 'VM1 powered off by itself');
  assert.ok(b.run.lines.some((l) => /E2E-MARKER nfsroot: powering off/.test(l.text)));
  const nfsTrouble = b.run.lines.filter((l) => NFS_TROUBLE.test(l.text)).map((l) => l.text);
  assert.deepEqual(nfsTrouble, [], 'the guest\'s NFS client saw no stale handle, timeout or I/O error across the restart');
  assert.match(read(upperFile(VM1, 'written-by-guest-2')), new RegExp(`^run=${lab.runId} ip=${VM1.ip} second `));
  const afterStatus = pxebootdStatus(cfgLeases).find((n) => n.ip === VM1.ip);
  assert.ok(afterStatus);
  assert.equal(afterStatus.fsid, before.fsid, 'the fsid survived the SIGKILL');
  assert.equal(afterStatus.state, 'ready');
  assert.deepEqual(exportBlock(VM1), blockBefore, 'same EXPORT block (same Export_Id) after the restart');
  assert.match(blockBefore[0]!, new RegExp(`Export_Id = ${String(before.fsid)};`), 'Export_Id is the node\'s fsid');
  assert.equal(mountCount(VM1), 1, 'no second overlay mount after the restart');
});

test('log path: VM2 is seen only through tftpd-hpa\'s syslog lines; its first try gets the fallback, a retry boots its own root', async () => {
  // pxebootd is down while VM2 powers on, so its first try cannot find a config of its own and
  // gets pxebootd's retrying pxelinux.cfg/default; then pxebootd starts with the syslog source
  // only (no lease source: the dnsmasq lease stays invisible to it) and must act on the retry's RRQs
  await px?.stop();
  const stoppedAt = Date.now();
  const b = boot(VM2);
  const defaultRrq = new RegExp(`in\\.tftpd\\[\\d+\\]: RRQ from ${VM2.ip.replace(/\./g, '\\.')} filename pxelinux\\.cfg/default$`, 'm');
  await waitForText(lab.tftpd.syslogFile, defaultRrq, 60_000);
  const fallbackAt = Date.now();
  px = await startPx(cfgSyslog);
  const spawnedAt = px.startedAt;
  const startedAt = Date.now();
  const res = await finish(b);
  timelines.set(VM2.name, timelineOf(b, [
    { time: stoppedAt, source: 'test', what: 'pxebootd stopped (SIGTERM) before VM2 powers on' },
    { time: fallbackAt, source: 'test', what: 'VM2 asked for pxelinux.cfg/default (seen in syslog)' },
    { time: startedAt, source: 'test', what: 'pxebootd started, sources: syslog only' },
  ]));

  assert.equal(res.timedOut, false, `VM2 finished within ${VM_TIMEOUT_MS} ms`);
  assert.equal(res.exitCode, 0);
  const rootLine = b.run.lines.find((l) => /E2E-MARKER nfsroot: root mount:/.test(l.text))?.text ?? '';
  assert.match(rootLine, new RegExp(`root mount: ${SERVER_IP}:${nodeMount(VM2)} / nfs4 .*clientaddr=${VM2.ip.replace(/\./g, '\\.')}`), 'VM2 runs from its own export');
  assert.match(read(upperFile(VM2)), new RegExp(`^run=${lab.runId} ip=${VM2.ip} uptime=`), 'VM2\'s file is in its own upper dir');
  assert.match(read(upperFile(VM1)), new RegExp(`ip=${VM1.ip} `), 'VM1\'s upper dir still holds VM1\'s file');
  assert.equal(hashTree(lab.rootDir), lowerHash, 'the shared root_dir is unchanged');
  assert.equal(b.configBeforeExport, false, 'config last');

  const outcomes = tftpOutcomes(read(lab.tftpd.syslogFile), '', lab.tftpRoot, VM2.ip);
  assert.ok((outcomes.get('pxelinux.0') ?? []).length >= 2, 'VM2 loaded pxelinux.0 from tftpd-hpa, then again on the retry');
  assert.ok((outcomes.get('pxelinux.cfg/default') ?? []).includes(true), 'the first try was served the fallback');
  const own = [...(outcomes.get(`pxelinux.cfg/01-${macHyphen(VM2.mac)}`) ?? []), ...(outcomes.get(`pxelinux.cfg/${nodeOf(VM2)}`) ?? [])];
  assert.ok(own.includes(true), 'a retry was served the node\'s own config');
  const written = b.stamps.first('boot file pxelinux.cfg/(01-<mac>|<HEX>) written');
  assert.ok(written && written.time > spawnedAt, 'VM2\'s boot file was written by the pxebootd started after the first try');

  const node = pxebootdStatus(cfgSyslog).find((n) => n.ip === VM2.ip);
  assert.ok(node, `status lists ${VM2.ip}`);
  assert.equal(node.state, 'ready');
  const sources = JSON.stringify(node.sources ?? []);
  assert.match(sources, /syslog/, 'VM2 was seen through the syslog source');
  assert.doesNotMatch(sources, /lease/, 'and never through a lease source');
});

test('isolation: VM2\'s export names VM2\'s IP alone, and Ganesha refuses it to VM1\'s IP', () => {
  const b1 = exportBlock(VM1);
  const b2 = exportBlock(VM2);
  assert.equal(b1.length, 1);
  assert.equal(b2.length, 1);
  assert.match(b2[0]!, new RegExp(`CLIENT \\{ Clients = ${VM2.ip.replace(/\./g, '\\.')}; Access_Type = RW; \\}`));
  assert.match(b2[0]!, /Access_Type = None;/, 'nobody else gets access at export level');
  assert.doesNotMatch(b2[0]!, new RegExp(VM1.ip.replace(/\./g, '\\.')));
  assert.match(b1[0]!, new RegExp(`Clients = ${VM1.ip.replace(/\./g, '\\.')};`));
  const pseudo = (line: string) => /Pseudo = "([^"]+)"/.exec(line)![1]!;
  const cli = lab.net.cli;
  const asClient = (ip: string) => {
    sh('ip', ['-n', cli, 'addr', 'flush', 'dev', lab.net.cliIf]);
    sh('ip', ['-n', cli, 'addr', 'add', `${ip}/24`, 'dev', lab.net.cliIf]);
    // the VMs that owned these addresses are gone: forget their MACs
    sh('ip', ['-n', lab.net.srv, 'neigh', 'flush', 'dev', lab.net.bridge]);
  };
  const v4 = (line: string) => `nfs://${SERVER_IP}${pseudo(line)}?version=4`;
  const v3 = (line: string) => `nfs://${SERVER_IP}${/Path = "([^"]+)"/.exec(line)![1]}`;

  asClient(VM1.ip);
  const own1 = nfsLs(cli, v4(b1[0]!));
  assert.ok(own1.ok && own1.out.includes('written-by-guest'), `from ${VM1.ip}, VM1's own export lists (control): ${own1.out}`);
  assert.equal(nfsLs(cli, v4(b2[0]!)).ok, false, `NFSv4: ${VM1.ip} must not read VM2's export`);
  assert.equal(nfsLs(cli, v3(b2[0]!)).ok, false, `NFSv3/MOUNT: ${VM1.ip} must not mount VM2's export`);

  asClient(VM2.ip);
  const own2 = nfsLs(cli, v4(b2[0]!));
  assert.ok(own2.ok && own2.out.includes('written-by-guest'), `from ${VM2.ip}, VM2's export lists: ${own2.out}`);
  assert.ok(nfsLs(cli, v3(b2[0]!)).ok, `NFSv3/MOUNT from ${VM2.ip} works`);
  assert.equal(nfsLs(cli, v4(b1[0]!)).ok, false, `${VM2.ip} must not read VM1's export`);
});

async function waitForText(f: string, re: RegExp, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!re.test(read(f))) {
    if (Date.now() > until) throw new Error(`${f}: no line matching ${re} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitForFile(f: string, ms: number): Promise<string> {
  const until = Date.now() + ms;
  while (!existsSync(f)) {
    if (Date.now() > until) throw new Error(`${f} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return readFileSync(f, 'utf8');
}
