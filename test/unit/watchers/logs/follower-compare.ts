// Reproducible comparison behind the README claim: our follower vs @logdna/tail-file on the same
// rotation scenarios (follower-scenarios.ts). Each run is its own child process so one follower's
// leftovers cannot disturb the next.
// Run: node test/unit/watchers/logs/follower-compare.ts [lines] [scenario,...]   (prints a markdown table)
// Not a test: follower.test.ts asserts that ours loses nothing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import TailFile from '@logdna/tail-file';
import { createFileFollower } from '../../../../watchers/logs/file-follower.ts';
import { runScenario, type FollowerFactory, type Scenario } from './follower-scenarios.ts';

const followers: Record<string, FollowerFactory> = {
  ours: (p, onData) => createFileFollower({ path: p, fromStart: false, onData, onReset: () => {}, onError: (e) => console.error('ours error:', e.message) }),
  '@logdna/tail-file': (p, onData) => {
    const t = new TailFile(p, { pollFileIntervalMs: 250 });
    t.on('data', (b: Buffer) => onData(b));
    t.on('tail_error', () => {});
    t.on('error', () => {});
    return { start: () => t.start(), stop: () => t.quit() };
  },
};

if (process.argv[2] === '--one') {
  const [name, scenario, n] = process.argv.slice(3) as [string, Scenario, string];
  const dir = mkdtempSync(path.join(tmpdir(), 'pxc-follow-'));
  const r = await runScenario(scenario, path.join(dir, 'syslog'), Number(n), followers[name]!);
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify(r));
  process.exit(0);
}

const total = Number(process.argv[2] ?? 1_000_000);
const scenarios: Scenario[] = (process.argv[3]?.split(',') as Scenario[] | undefined) ?? ['plain', 'partial', 'rename', 'rename-slow', 'copytruncate', 'copytruncate-race', 'delete-recreate'];
const rows = ['| follower | scenario | lines written | lost | duplicated | torn | ms |', '|---|---|---|---|---|---|---|'];
for (const scenario of scenarios) {
  for (const name of Object.keys(followers)) {
    const n = scenario === 'partial' ? Math.min(total, 200_000) : total;
    const out = execFileSync(process.execPath, [import.meta.filename, '--one', name, scenario, String(n)], { encoding: 'utf8', timeout: 600_000 });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { written: number; lost: number; duplicated: number; torn: number; ms: number };
    rows.push(`| ${name} | ${scenario} | ${r.written} | ${r.lost} | ${r.duplicated} | ${r.torn} | ${r.ms} |`);
    console.error(rows.at(-1));
  }
}
console.log(rows.join('\n'));
