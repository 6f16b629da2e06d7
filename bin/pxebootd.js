#!/usr/bin/env node
// pxebootd's installed entry point. Plain JavaScript so that it can refuse an old Node clearly
// before anything newer is parsed; the CLI itself is the compiled dist/src/cli/main.js.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(`pxebootd: needs Node.js >= 22.22, found ${process.versions.node} (${process.execPath}).\n` + 'Install Node 22.22+ or 24 (e.g. `source scripts/node-env.sh` in a checkout).\n');
  process.exit(1);
}

// `run` is a long-lived daemon: V8's default young generation (up to 16 MB per semi-space, three
// of them) grows during a burst of thousands of events and stays committed afterwards, which was
// most of its RSS at 10,000 nodes (docs/performance.md). The flag only works at start-up
// (v8.setFlagsFromString is too late), so `run` re-executes itself in place with it: same PID
// (execve), so systemd and pid files see one process. Other commands (`hook`) start directly.
// A --max-semi-space-size given by the caller (node flags or NODE_OPTIONS) is kept as is.
const SEMI_SPACE_MB = 2;
const semiSet = (s) => /--max-semi-space-size\b/.test(s);
if (process.argv[2] === 'run' && typeof process.execve === 'function' && !process.execArgv.some(semiSet) && !semiSet(process.env.NODE_OPTIONS ?? '')) {
  process.execve(process.execPath, [process.execPath, `--max-semi-space-size=${SEMI_SPACE_MB}`, ...process.execArgv, ...process.argv.slice(1)], process.env);
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
