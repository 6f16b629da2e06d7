#!/usr/bin/env node
// pxebootd's installed entry point. Plain JavaScript so that it can refuse an old Node clearly
// before anything newer is parsed; the CLI itself is the compiled dist/src/cli/main.js.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(`pxebootd: needs Node.js >= 22.22, found ${process.versions.node} (${process.execPath}).\n` + 'Install Node 22.22+ or 24 (e.g. `source scripts/node-env.sh` in a checkout).\n');
  process.exit(1);
}

// Imports one compiled module of the CLI, or its TypeScript source in a checkout without `npm run
// build` (Node strips the types itself).
async function load(name) {
  try {
    return await import(`../dist/src/${name}.js`);
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist')) throw e;
    return import(`../src/${name}.ts`);
  }
}

// `run` is a long-lived daemon: it re-executes itself in place (same PID) with the start-up part
// of the memory tuning (src/memory.ts, which says why). Other commands (`hook`) start directly.
if (process.argv[2] === 'run' && typeof process.execve === 'function') {
  const profile = (await load('memory')).startupProfile(process.execArgv, process.env);
  if (profile) process.execve(process.execPath, [process.execPath, ...profile.flags, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, ...profile.env });
}

const cli = await load('cli/main');
process.exitCode = await cli.main(process.argv.slice(2));
