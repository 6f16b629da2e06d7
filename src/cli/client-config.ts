// Commands that talk to a running daemon (status, provision, release) need only its socket.
// When the config file is broken (say, mid-edit before a SIGHUP) they still reach the daemon,
// which runs on the last good config; only without a daemon is the config error fatal.
import path from 'node:path';
import { loadConfig } from '../config/index.ts';
import { ConfigError, formatProblem } from '../errors.ts';
import type { Config } from '../types.ts';
import { socketFromConfigText } from './hook-command.ts';
import { readRegularSync, READ_LIMITS } from '../safe-open.ts';

export type ClientConfig = { config: Config; socket: string } | { config?: undefined; socket: string; error: ConfigError };

const DEFAULT_SOCKET = '/run/pxebootd/control.sock';

/** The validated config, or (when it is broken) the socket path found in it plus the error. */
export async function loadClientConfig(file: string): Promise<ClientConfig> {
  try {
    const config = await loadConfig(file);
    return { config, socket: config.control_socket };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    let socket = DEFAULT_SOCKET;
    try {
      const found = socketFromConfigText(readRegularSync(file, READ_LIMITS.configBytes, 'a config file').toString('utf8'));
      if (found) socket = path.resolve(path.dirname(path.resolve(file)), found);
    } catch {
      /* unreadable or refused (safe-open.ts): the default socket */
    }
    return { socket, error: e };
  }
}

/** Tell the user the file is broken but the daemon answered on its last good config. */
export function warnBrokenConfig(c: ClientConfig): void {
  if (c.config) return;
  process.stderr.write(`pxebootd: warning: ${c.error.problems.length} problem(s) in the config file; the running daemon still uses its last good config:\n`);
  for (const p of c.error.problems) process.stderr.write(`  ${formatProblem(p)}\n`);
}
