#!/usr/bin/env node
// pxebootd's installed entry point. Plain JavaScript so that it can refuse an old Node clearly
// before anything newer is parsed; the CLI itself is the compiled dist/src/cli/main.js.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(`pxebootd: needs Node.js >= 22.22, found ${process.versions.node} (${process.execPath}).\n` + 'Install Node 22.22+ or 24 (e.g. `source scripts/node-env.sh` in a checkout).\n');
  process.exit(1);
}

// `run` is a long-lived daemon with a memory target (150 MB RSS at 10,000 nodes, measured in
// docs/performance.md), so it runs with a memory profile that only works from process start-up
// (v8.setFlagsFromString and mallopt are too late). `run` therefore re-executes itself in place
// with it: same PID (execve), so systemd and pid files see one process. Other commands (`hook`)
// start directly. Each setting the caller already made (node flags, NODE_OPTIONS, the
// environment) is kept as is.
//  - --max-semi-space-size=2: V8's default young generation (up to 16 MB per semi-space, three of
//    them) grows during a burst of thousands of events and stays committed afterwards.
//  - MALLOC_ARENA_MAX=1: glibc gives each thread that allocates (V8's GC and compiler threads,
//    libuv's pool) its own arena, and each kept several MB after a burst; one arena for all.
// (--optimize-for-size would save a few MB more but parses a 100,000-lease file 2.2x slower.)
const PROFILE_FLAGS = [['--max-semi-space-size', '--max-semi-space-size=2']];
const PROFILE_ENV = { MALLOC_ARENA_MAX: '1' };
const given = (name) => process.execArgv.some((a) => a.startsWith(name)) || (process.env.NODE_OPTIONS ?? '').includes(name);
const flags = PROFILE_FLAGS.filter(([name]) => !given(name)).map(([, flag]) => flag);
const env = Object.entries(PROFILE_ENV).filter(([k]) => process.env[k] === undefined);
if (process.argv[2] === 'run' && typeof process.execve === 'function' && (flags.length || env.length)) {
  process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, ...Object.fromEntries(env) });
}

let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist')) throw e;
  // a source checkout without `npm run build`: Node strips the TypeScript types itself
  cli = await import('../src/cli/main.ts');
}
process.exitCode = await cli.main(process.argv.slice(2));
