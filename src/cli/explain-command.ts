// `pxebootd explain <mac|ip>`: which rule matches and why (decide), and the exact plan the daemon would
// apply (planNode: files, mount, export line). Reads config and state; applies nothing.
import { checkConfig } from '../config/index.ts';
import { ConfigError, errorMessage, formatProblem, type ConfigProblem } from '../errors.ts';
import { matchClient } from '../rules.ts';
import { createStateStore } from '../state/store.ts';
import { silentLogger } from '../log.ts';
import { decideNode } from '../pipeline/decide.ts';
import { normalizeHostname, normalizeIPv4, normalizeMac } from '../validate.ts';
import { QUARANTINE_PROFILE, type BootOnceRecord, type Config, type HostRule, type NodeRecord, type ProfileConfig } from '../types.ts';
import { enqueue, selection } from '../boot-once/machine.ts';
import { parseCommand, usageError } from './args.ts';
import type { NodeCurrent } from '../../provisioners/plan.ts';
import { USAGE } from './usage.ts';

/**
 * The config to explain with. Missing paths or unreadable templates do not stop an explanation: the
 * plan is made without them and they are listed as problems (exit 1). Anything else wrong still stops it.
 */
async function explainConfig(file: string): Promise<{ config: Config; problems: ConfigProblem[] }> {
  const full = await checkConfig(file);
  if (full.config) return { config: full.config, problems: [] };
  const lenient = await checkConfig(file, undefined, { skipFiles: true });
  if (!lenient.config) throw new ConfigError(full.problems);
  return { config: lenient.config, problems: full.problems };
}

/** A host rule's fields as one line (only those it sets). */
function hostFields(h: HostRule): string {
  const keys = ['root_dir', 'node_dir', 'overlay_dir', 'pxe_template', 'grub_template', 'ipxe_template', 'overlay', 'on_release', 'node_name', 'ignore'] as const;
  const set = keys.filter((k) => (h as unknown as Record<string, unknown>)[k] !== undefined).map((k) => `${k} ${String((h as unknown as Record<string, unknown>)[k])}`);
  return set.length ? set.join(', ') : 'no fields of its own (the subnet\'s apply)';
}

/** `pxebootd explain`: why a client gets (or does not get) a node, and its plan, without changing anything. */
export async function explainCommand(args: string[]): Promise<number> {
  const { values, positionals, config: file } = parseCommand(
    'explain',
    args,
    { json: { type: 'boolean' }, hostname: { type: 'string' }, mac: { type: 'string' } },
    { min: 1, max: 1, names: '<mac|ip>' },
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const target = positionals[0]!;
  const tIp = normalizeIPv4(target);
  const tMac = tIp ? undefined : normalizeMac(target);
  if (!tIp && !tMac) throw usageError(`explain: expected an IPv4 address or a MAC, found ${JSON.stringify(target)}`);
  const optMac = values.mac === undefined ? undefined : normalizeMac(values.mac as string);
  if (values.mac !== undefined && !optMac) throw usageError(`explain: --mac: expected a MAC like 52:54:00:12:34:56, found ${JSON.stringify(values.mac)}`);
  const optHost = values.hostname === undefined ? undefined : normalizeHostname(values.hostname as string);
  if (values.hostname !== undefined && !optHost) throw usageError(`explain: --hostname: expected an RFC 1123 host name, found ${JSON.stringify(values.hostname)}`);

  const { config, problems } = await explainConfig(file);
  const problemLines = problems.length ? ['problems (the plan below is made without them; fix them before nodes boot):', ...problems.map((p) => `  ${formatProblem(p)}`)] : [];
  const store = createStateStore({ dir: config.state_dir, startFsid: config.exports.start_fsid, log: silentLogger(), memoryOnly: true });
  await store.load();
  const known = tIp ? store.findByIp(tIp) : store.findByMac(tMac!);
  const mac = optMac ?? tMac ?? known?.mac;
  // a host rule by MAC may name the client's IP itself
  const byMac = mac ? config.hosts.filter((h) => h.mac === mac) : [];
  const ip = tIp ?? known?.ip ?? byMac.find((h) => h.ip)?.ip;
  const hostname = optHost ?? known?.hostname;
  if (!ip) {
    if (byMac.length === 0) {
      process.stderr.write(`pxebootd explain: no node with MAC ${tMac} in ${store.file} and no host rule for it; give its IP: pxebootd explain <ip> --mac ${tMac}\n`);
      return 1;
    }
    // the host rule is known; the subnet (and so the paths and the plan) depends on the client's IP
    const subnets = config.subnets.filter((s) => !s.ignore);
    const out = {
      client: { mac, ip: undefined },
      hostRules: byMac.map((h) => ({ ...h })),
      needs: 'ip',
      subnets: subnets.map((s) => ({ cidr: s.cidr, at: s.pos })),
      problems,
    };
    const lines = [
      `client:  mac ${mac}, ip unknown (not in ${store.file})`,
      ...byMac.map((h) => `host rule: hosts by mac ${h.mac}${h.pos ? ` (${h.pos})` : ''}: ${hostFields(h)}`),
      `needs:   the client's IP. The host rule applies in whichever subnet that IP falls in (${subnets.map((s) => `${s.cidr}${s.pos ? ` at ${s.pos}` : ''}`).join('; ') || 'none configured'}),`,
      `         and the subnet gives the paths and fsid the plan needs: pxebootd explain <ip> --mac ${mac}`,
      ...problemLines,
    ];
    process.stdout.write(values.json ? JSON.stringify(out, null, 2) + '\n' : lines.join('\n') + '\n');
    return problems.length ? 1 : 0;
  }
  const m = matchClient({ ip, mac, hostname }, config);
  const out: Record<string, unknown> = { client: { ip, mac, hostname }, match: m.kind, why: m.kind === 'match' ? m.rule.why : m.why };
  const lines: string[] = [`client:  ip ${ip}${mac ? `, mac ${mac}` : ', mac unknown'}${hostname ? `, hostname ${hostname}` : ''}`];
  lines.push(`result:  ${m.kind === 'match' ? 'provisioned' : m.kind === 'ignored' ? 'ignored (never provisioned)' : m.kind === 'reserved' ? 'reserved address (never provisioned)' : 'no matching subnet (never provisioned)'}`);
  lines.push('why:', ...(m.kind === 'match' ? m.rule.why : m.why).map((w) => `  - ${w}`));
  if (!mac) lines.push('note:    the MAC is unknown (not in state); host rules by MAC were not considered and the 01-<mac> boot file is left out: pass --mac');
  // the same decision the daemon makes for this client, then the same pure plan it would apply
  const n = decideNode(m, ip, mac);
  if (n.kind === 'skip' && n.match === 'name') throw new Error(n.why[0]);
  if (n.kind === 'node') {
    const { rule, name } = n;
    const rec = store.get(name);
    const fsid = rec?.fsid || store.peekFsid(name);
    const node: NodeRecord = rec ?? { name, ip, subnet: rule.subnet.cidr, state: 'pending', fsid, lastSeen: 0, sources: [] };
    const planned: NodeRecord = { ...node, ip, fsid, ...(mac ? { mac } : {}), ...(hostname ? { hostname } : {}) };
    const { NOTHING_IN_PLACE, nodeTargets, planNode } = await import('../../provisioners/plan.ts');
    const { observeNodes, readOnlyView } = await import('../../provisioners/observe.ts');
    const { loadSysMount, resolveMountMethod } = await import('../../provisioners/mounter.ts');
    const targets = nodeTargets(planned, rule, config);
    // the plan is made against what is in place now, read from /proc/self/mountinfo and the exports file
    let current = NOTHING_IN_PLACE;
    let unseen: string | undefined;
    try {
      current = (await observeNodes(readOnlyView(config), [targets]))[0]!;
    } catch (e) {
      unseen = errorMessage(e);
    }
    const mountMethod = resolveMountMethod(config.mount_method ?? 'auto', config.commands, loadSysMount()).method;
    const { paths: _paths, entry: _entry, specs: _specs, ...plan } = planNode(planned, rule, config, current, { mountMethod }, targets);
    const { why: _why, subnet, host, ...fields } = rule;
    out.node = { name, fsid, fsidAllocated: rec?.fsid ? true : false, state: rec?.state ?? 'new' };
    out.rule = { subnet: subnet.cidr, subnetAt: subnet.pos, host: host ? { mac: host.mac, ip: host.ip, hostname: host.hostname, at: host.pos } : undefined, ...fields };
    out.current = unseen === undefined ? current : { unseen };
    out.plan = plan;
    lines.push(`rule:    subnet ${subnet.cidr}${subnet.pos ? ` (${subnet.pos})` : ''}${host ? `, host ${host.mac ?? host.ip ?? host.hostname}${host.pos ? ` (${host.pos})` : ''}` : ''}`);
    lines.push(`node:    ${name} (${rec ? `known, ${rec.state}` : 'new'}), fsid ${fsid}${rec?.fsid ? '' : ' (would be allocated)'}`);
    lines.push(`fields:  root_dir ${rule.root_dir}, node_dir ${rule.node_dir}, overlay_dir ${rule.overlay_dir}, overlay ${rule.overlay}, on_release ${rule.on_release}`);
    lines.push(unseen === undefined ? `in place: ${describeCurrent(current, targets.paths.mountPoint, config.exports.file)}` : `in place: unknown (${unseen}); planned as if nothing were`);
    lines.push('plan:');
    plan.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s.describe}`));
    lines.push('export entry:', ...plan.exportEntry.split('\n').map((l) => `  ${l}`));
    lines.push(`nfs path: ${plan.nfsPath}`);
    lines.push('boot files:', ...plan.bootFiles.map((f) => `  ${f}`));
    // per loader: the name the client asks for first, and which of its names pxebootd writes
    const { describeLoaderLookups, planLoaderLookups } = await import('../../provisioners/loader-lookup.ts');
    const lookups = planLoaderLookups(planned, rule, config);
    out.loaders = lookups;
    lines.push('loaders (what each kind of client asks for first, and which file it gets):', ...describeLoaderLookups(lookups));
    // boot-once: which templates those files come from now (a profile's, quarantine's or production's)
    const bo = rec?.bootOnce ?? (rec ? undefined : firstBoot(rule.subnet.first_boot));
    const applies = explainBootOnce(bo, config.profiles ?? {});
    out.bootOnce = { ...(bo ? { record: bo } : {}), applies };
    lines.push(`boot-once: ${applies}${!rec && bo ? ' (first_boot of a new node)' : ''}`);
  }
  if (problems.length) {
    out.problems = problems;
    lines.push(...problemLines);
  }
  process.stdout.write(values.json ? JSON.stringify(out, null, 2) + '\n' : lines.join('\n') + '\n');
  return problems.length ? 1 : 0;
}

/** What planNode saw in place for the node, in words. */
function describeCurrent(c: NodeCurrent, mountPoint: string, exportsFile: string): string {
  const mount = c.mount.kind === 'absent' ? `nothing mounted at ${mountPoint}` : c.mount.kind === 'ours' ? `its overlay is mounted at ${mountPoint}` : `${mountPoint}: ${c.mount.reason}`;
  const exp = c.export === 'absent' ? `not in ${exportsFile}` : c.export === 'same' ? `exported in ${exportsFile} as planned` : `${exportsFile} has another entry for it (replaced by the plan)`;
  return `${mount}; ${exp}`;
}

/** The queue a new node of a subnet with `first_boot` starts with. */
function firstBoot(names: string[] | undefined): BootOnceRecord | undefined {
  if (!names?.length) return undefined;
  const r = enqueue(undefined, names);
  return 'bo' in r ? r.bo : undefined;
}

/** Which templates a node's boot files come from under its boot-once state, in words. */
function explainBootOnce(bo: BootOnceRecord | undefined, profiles: Record<string, ProfileConfig>): string {
  const tpl = (p: ProfileConfig) => [p.pxe_template, p.grub_template, p.ipxe_template].filter(Boolean).join(', ');
  const s = selection(bo);
  if (s.kind === 'production') return 'production (the rule\'s templates, as planned above)';
  if (s.kind === 'quarantine') {
    const q = profiles[QUARANTINE_PROFILE];
    const why = bo!.quarantined!;
    return `QUARANTINED (${why.profile}: ${why.why}): ${q ? `profile quarantine (${tpl(q)})` : 'no per-node files: the fallback (pxelinux.cfg/default) applies'}; production only after release or boot-once --cancel`;
  }
  if (s.kind === 'held') {
    const h = s.current.held!;
    return `profile ${s.profile} HELD: it booted again without reporting (per ${h.source ?? 'a log'}, not authoritative, so not failed): no per-node files: the fallback applies; its report still counts, else its timeout quarantines it`;
  }
  const p = profiles[s.profile];
  const next = bo!.queue.length ? `, then ${bo!.queue.join(', then ')}` : '';
  return `profile ${s.profile} (${p ? `${tpl(p)}; done when ${p.done_when}${p.root === 'own' ? '; root: own' : ''}` : 'no longer configured: skipped at the next provision'})${next}, then production`;
}
