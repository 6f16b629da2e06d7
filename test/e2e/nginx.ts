// A stock nginx in the lab's server namespace, serving tftp_root read-only through the shipped
// etc/nginx-pxebootd.conf (only the listen address, root and access log path are replaced). Its
// own pid file, error log and temp dirs live in the lab dir; stopped by its own PID.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireTool, startDaemon, waitFor, sh, type Daemon } from '../helpers/lab.ts';
import { REPO_ROOT } from '../helpers/e2e-assets.ts';

export interface NginxHandle {
  daemon: Daemon;
  pid: number;
  accessLog: string;
  errorLog: string;
  stop(): Promise<void>;
}

/** Start nginx in `netns` on `ip`:80 with the shipped site snippet, root = tftpRoot. */
export async function startNginx(o: { netns: string; ip: string; tftpRoot: string; dir: string }): Promise<NginxHandle> {
  requireTool('nginx');
  mkdirSync(o.dir, { recursive: true });
  const accessLog = path.join(o.dir, 'access.log');
  const errorLog = path.join(o.dir, 'error.log');
  const site = readFileSync(path.join(REPO_ROOT, 'etc', 'nginx-pxebootd.conf'), 'utf8');
  const replaced = site
    .replace(/^(\s*)listen 80;$/m, `$1listen ${o.ip}:80;`)
    .replace(/^(\s*)root \/srv\/tftp;$/m, `$1root ${o.tftpRoot};`)
    .replace(/^(\s*)access_log \/var\/log\/nginx\/pxebootd-access\.log combined;$/m, `$1access_log ${accessLog} combined;`);
  for (const [what, re] of [['listen', /listen .*:80;/], ['root', /root \//], ['access_log', /access_log \//]] as const) {
    if (!re.test(replaced) || replaced === site) throw new Error(`etc/nginx-pxebootd.conf: could not set ${what} for the lab; the snippet changed shape`);
  }
  const siteFile = path.join(o.dir, 'pxebootd-site.conf');
  writeFileSync(siteFile, replaced);
  const tmp = (n: string) => {
    const d = path.join(o.dir, 'tmp', n);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const conf = path.join(o.dir, 'nginx.conf');
  writeFileSync(conf, `# nginx for the pxebootd e2e lab: foreground, everything under ${o.dir}
user www-data;
worker_processes 1;
pid ${path.join(o.dir, 'nginx.pid')};
error_log ${errorLog} info;
events { worker_connections 64; }
http {
  default_type application/octet-stream;
  client_body_temp_path ${tmp('body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  include ${siteFile};
}
`);
  sh('ip', ['netns', 'exec', o.netns, 'nginx', '-t', '-q', '-e', errorLog, '-c', conf]);
  const daemon = startDaemon('nginx', ['nginx', '-e', errorLog, '-c', conf, '-g', 'daemon off;'], { netns: o.netns, logFile: path.join(o.dir, 'nginx.out') });
  await waitFor('nginx to listen', () => sh('ip', ['netns', 'exec', o.netns, 'ss', '-ltnH', `sport = :80`], { allowFail: true }).includes(`${o.ip}:80`), 10_000);
  return { daemon, pid: daemon.pid, accessLog, errorLog, stop: () => daemon.stop(5000) };
}

/** The access log so far ('' before the first request). */
export function accessLines(h: NginxHandle): string[] {
  return existsSync(h.accessLog) ? readFileSync(h.accessLog, 'utf8').split('\n').filter(Boolean) : [];
}
