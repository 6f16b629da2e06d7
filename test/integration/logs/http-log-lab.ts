// A real nginx (the shipped etc/nginx-pxebootd.conf, via test/e2e/nginx.ts) serving a pxebootd lab's
// tftp_root in a server namespace, a client namespace for curl and busybox wget, and `pxebootd run`
// with an http-log source on nginx's access log. Everything is removed at cleanup.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeNetnsPair, requireTool, startDaemon, waitFor, type NetnsPair } from '../../helpers/lab.ts';
import { setClientAddress } from '../../helpers/tftpd.ts';
import { startNginx, type NginxHandle } from '../../e2e/nginx.ts';
import { CLI, cli, makeLab, type Lab } from '../cli/cli-lab.ts';

export const SERVER_IP = '10.99.0.1';

export interface StatusNode {
  name: string;
  ip: string;
  state: string;
  timeline?: Array<{ what: string; source?: string }>;
}

export interface HttpLab {
  lab: Lab;
  net: NetnsPair;
  nginx: NginxHandle;
  clientIp: string;
  log(): string;
  nodes(): Promise<StatusNode[]>;
  node(ip: string): Promise<StatusNode | undefined>;
  /** run curl in the client namespace; returns the HTTP status */
  curl(urlPath: string, extra?: string[]): number;
  /** run busybox wget in the client namespace (its -T crashes busybox 1.35: a process timeout instead); true when it fetched the file */
  wget(urlPath: string): boolean;
}

/** The lab; `yaml` is appended to the config (hosts, boot_guard_ms). */
export async function startHttpLab(prefix: string, o: { clientHost: number; yaml?: string }): Promise<HttpLab> {
  for (const t of ['nginx', 'curl', 'busybox', 'exportfs']) requireTool(t);
  const lab = makeLab({ extra: o.yaml ?? '' });
  // nginx's workers run as www-data: the lab dir and tftp_root must be traversable
  chmodSync(lab.dir, 0o755);
  chmodSync(lab.tftp, 0o755);
  writeFileSync(path.join(lab.tftp, 'pxelinux.0'), 'N'.repeat(4096));
  writeFileSync(path.join(lab.tftp, 'vmlinuz'), 'K'.repeat(200_000));
  chmodSync(path.join(lab.tftp, 'pxelinux.0'), 0o644);
  chmodSync(path.join(lab.tftp, 'vmlinuz'), 0o644);
  const net = makeNetnsPair(prefix);
  const clientIp = `10.99.0.${o.clientHost}`;
  setClientAddress(net.cli, net.cliIf, `${clientIp}/24`);
  const nginx = await startNginx({ netns: net.srv, ip: SERVER_IP, tftpRoot: lab.tftp, dir: path.join(lab.dir, 'nginx') });
  const rel = path.relative(lab.dir, nginx.accessLog);
  const text = readFileSync(lab.config, 'utf8');
  const leaseSource = '  - { type: dnsmasq-leases, path: leases/dnsmasq.leases }\n';
  if (!text.includes(leaseSource)) throw new Error('cli-lab config layout changed');
  writeFileSync(lab.config, text.replace(leaseSource, `${leaseSource}  - { type: http-log, path: ${rel}, format: combined }\n`));

  const logFile = path.join(lab.dir, 'daemon.log');
  startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile, env: { ...process.env, PXEBOOTD_LOG_LEVEL: 'debug' } });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor('pxebootd started', () => log().includes('pxebootd started'), 30_000);
  await waitFor('pxebootd following the access log', () => log().includes(`following ${nginx.accessLog}`), 10_000);

  const nodes = async (): Promise<StatusNode[]> => {
    const r = await cli(['status', '--json', '-c', lab.config]);
    if (r.code !== 0) throw new Error(`pxebootd status: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { nodes: StatusNode[] }).nodes;
  };
  return {
    lab,
    net,
    nginx,
    clientIp,
    log,
    nodes,
    node: async (ip) => (await nodes()).find((n) => n.ip === ip),
    curl(urlPath, extra = []) {
      const out = execFileSync('ip', ['netns', 'exec', net.cli, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', ...extra, `http://${SERVER_IP}${urlPath}`], { encoding: 'utf8' });
      return Number(out.trim());
    },
    wget(urlPath) {
      try {
        execFileSync('ip', ['netns', 'exec', net.cli, 'busybox', 'wget', '-q', '-O', '/dev/null', `http://${SERVER_IP}${urlPath}`], { stdio: 'ignore', timeout: 20_000 });
        return true;
      } catch {
        return false;
      }
    },
  };
}
