// The I/O edge of config loading: read the file, probe the real file system, hand both to the
// pure core. `checkConfig` is for `pxebootd check`; `loadConfig` for the daemon (throws).
import { statSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { readRegular, readRegularSync, READ_LIMITS, RefusedFileError } from '../safe-open.ts';
import type { Config } from '../types.ts';
import type { FsProbe } from './files-check.ts';
import { validateConfigText, type CheckOptions, type CheckResult } from './validate-text.ts';

/** The real file system, read-only. */
export const nodeFsProbe: FsProbe = {
  kind(p) {
    try {
      const st = statSync(p);
      return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
    } catch {
      return 'missing';
    }
  },
  read(p) {
    try {
      return readRegularSync(p, READ_LIMITS.templateBytes, 'a template').toString('utf8');
    } catch {
      return undefined;
    }
  },
};

/** Validate a config file and its templates; every problem is returned, nothing is thrown. */
export async function checkConfig(file: string, probe: FsProbe = nodeFsProbe, opts: CheckOptions = {}): Promise<CheckResult> {
  let text: string;
  try {
    // a FIFO, device or /dev/zero symlink here must not block or fill memory, at start or on SIGHUP
    text = (await readRegular(file, READ_LIMITS.configBytes, 'a config file')).toString('utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = e instanceof RefusedFileError ? `the config file ${e.reason}; not read` : `cannot read config file: ${err.code ?? err.message}`;
    return { problems: [{ file, line: 1, col: 1, path: '', message: why }] };
  }
  return validateConfigText(text, file, probe, opts);
}

/** Load a valid config or throw ConfigError listing every problem. */
export async function loadConfig(file: string, probe: FsProbe = nodeFsProbe): Promise<Config> {
  const r = await checkConfig(file, probe);
  if (!r.config) throw new ConfigError(r.problems);
  return r.config;
}
