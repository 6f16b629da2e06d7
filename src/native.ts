// One loader for pxebootd's N-API addons (provisioners/native/NAME.c, built by
// scripts/build-native.sh into build/NAME.node), so every caller reports a missing addon the same way.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** build/ at the package root (this file is in src/ or dist/src/). */
const BUILD_DIR = (() => {
  const parent = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  return path.join(path.basename(parent) === 'dist' ? path.dirname(parent) : parent, 'build');
})();

/** An addon's exports, or why it cannot be used. */
export type Addon<T> = { mod: T } | { why: string };

const cache = new Map<string, Addon<unknown>>();

/** Load build/NAME.node once; `what` names its job in the reason given when it is unusable. */
export function loadAddon<T>(name: string, what: string): Addon<T> {
  const hit = cache.get(name);
  if (hit) return hit as Addon<T>;
  const file = path.join(BUILD_DIR, `${name}.node`);
  let got: Addon<T>;
  if (!existsSync(file)) {
    got = { why: `the ${what} addon is not built (no ${file}; npm run build makes it, with a C compiler and Node's headers)` };
  } else {
    try {
      got = { mod: createRequire(import.meta.url)(file) as T };
    } catch (e) {
      got = { why: `the ${what} addon ${file} does not load: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  cache.set(name, got);
  return got;
}
