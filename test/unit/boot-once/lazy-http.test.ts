// node:http costs a daemon several MB of RSS (docs/performance.md), and only the boot-once report
// endpoint uses it: loading the daemon and all its production modules must not load it; starting
// the endpoint does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function httpModulesAfter(script: string): string[] {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `${script}; console.log(JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule _?http/.test(m))))`], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as string[];
}

test('the daemon and its production modules load without node:http', () => {
  assert.deepEqual(httpModulesAfter("await (await import('./src/daemon/deps.ts')).loadRealDeps(); await import('./src/daemon/daemon.ts'); await import('./src/cli/run-command.ts')"), []);
});

test('starting the report endpoint loads node:http', () => {
  const mods = httpModulesAfter("const s = await (await import('./src/boot-once/report-server.ts')).startReportServer('127.0.0.1:0', () => ({ status: 200, body: {} })); await s.close()");
  assert.ok(mods.includes('NativeModule http'), `expected node:http loaded, found ${JSON.stringify(mods)}`);
});
