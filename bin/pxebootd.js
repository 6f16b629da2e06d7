#!/usr/bin/env node
// pxebootd's installed entry point. Plain JavaScript so that it can refuse an old Node clearly
// before anything newer is parsed; the CLI itself is the compiled dist/src/cli/main.js.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(`pxebootd: needs Node.js >= 22.22, found ${process.versions.node} (${process.execPath}).\n` + 'Install Node 22.22+ or 24 (e.g. `source scripts/node-env.sh` in a checkout).\n');
  process.exit(1);
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
