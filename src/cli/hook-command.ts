// `pxebootd hook ACTION ARGS...`: dnsmasq's --dhcp-script. dnsmasq runs one script at a time and
// waits for it, so this forwards argv and the DNSMASQ_* environment to the daemon and returns at
// once; with no daemon (or any trouble) it warns on stderr and still exits 0.
// Start-up cost matters here: no YAML parser, no config validation, nothing heavy is imported.
import path from 'node:path';
import { sendControl } from '../control.ts';
import { readRegularSync, READ_LIMITS, RefusedFileError } from '../safe-open.ts';
import { DEFAULT_CONFIG } from './args.ts';

/** The actions dnsmasq passes as the script's first argument. */
export const DNSMASQ_ACTIONS = ['add', 'old', 'del', 'tftp', 'init', 'arp-add', 'arp-del', 'relay-snoop'];

const DEFAULT_SOCKET = '/run/pxebootd/control.sock';

/** The socket path from a top-level `control_socket:` line, without parsing the whole YAML. */
export function socketFromConfigText(text: string): string | undefined {
  const m = /^control_socket:[ \t]*(?:"([^"\n]*)"|'([^'\n]*)'|([^\s#]+))/m.exec(text);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

function splitConfigArg(args: string[]): { config: string; socket?: string; rest: string[] } {
  let config = process.env.PXEBOOTD_CONFIG ?? DEFAULT_CONFIG;
  let socket = process.env.PXEBOOTD_SOCKET;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if ((a === '-c' || a === '--config') && i + 1 < args.length) config = args[++i]!;
    else if (a.startsWith('--config=')) config = a.slice(9);
    else if (a === '--socket' && i + 1 < args.length) socket = args[++i]!;
    else rest.push(a);
  }
  return { config, socket, rest };
}

/** Run the hook; always resolves to 0 so that dnsmasq is never held up or sees a failure. */
export async function hookCommand(args: string[]): Promise<number> {
  const { config, socket: given, rest } = splitConfigArg(args);
  let socket = given;
  if (!socket) {
    try {
      const found = socketFromConfigText(readRegularSync(config, READ_LIMITS.configBytes, 'a config file').toString('utf8'));
      // relative paths in the config are relative to the config file, as in the full loader
      if (found) socket = path.resolve(path.dirname(path.resolve(config)), found);
    } catch (e) {
      const why = e instanceof RefusedFileError ? e.reason : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
      process.stderr.write(`pxebootd hook: cannot read ${config} (${why}); trying ${DEFAULT_SOCKET}\n`);
    }
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('DNSMASQ_') && v !== undefined) env[k] = v;
  try {
    const r = await sendControl(socket ?? DEFAULT_SOCKET, { op: 'hook', argv: rest, env }, { connectTimeoutMs: 200, timeoutMs: 2000 });
    if (!r.ok) process.stderr.write(`pxebootd hook: daemon refused the event: ${r.error ?? 'no reason given'}\n`);
  } catch (e) {
    process.stderr.write(`pxebootd hook: event not delivered: ${(e as Error).message}\n`);
  }
  return 0;
}
