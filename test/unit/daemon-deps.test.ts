import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const deps = fileURLToPath(new URL('../../src/daemon/deps.ts', import.meta.url));

/**
 * In a fresh process, load the production deps and make the daemon's metrics with or without
 * `metrics:` in the config; report whether prom-client was ever resolved (a module hook sees every
 * import, static or dynamic).
 */
function promClientLoaded(metricsOn: boolean): { loaded: boolean; kind: string } {
  const script = `
    import { registerHooks } from 'node:module';
    let loaded = false;
    registerHooks({ resolve(spec, ctx, next) { if (spec === 'prom-client') loaded = true; return next(spec, ctx); } });
    const { loadRealDeps } = await import(${JSON.stringify(deps)});
    const d = await loadRealDeps();
    const runner = { stats: () => new Map() };
    const m = await d.createMetrics(undefined, runner, ${metricsOn ? "{ metrics: { listen: '127.0.0.1:0' } }" : '{}'});
    await m.close?.();
    console.log(JSON.stringify({ loaded, kind: typeof m.listen === 'function' ? 'prom' : 'noop' }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as { loaded: boolean; kind: string };
}

test('prom-client is not loaded when the config has no metrics section', () => {
  assert.deepEqual(promClientLoaded(false), { loaded: false, kind: 'noop' });
});

test('prom-client is loaded, and real metrics made, when metrics.listen is configured', () => {
  assert.deepEqual(promClientLoaded(true), { loaded: true, kind: 'prom' });
});
