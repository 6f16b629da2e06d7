// Scale: syslog ingestion of unrelated lines through the watcher's own line processor
// (createLineProcessor(ctx).push(buffer)), in lines/s. Baseline: a bare split('\n') loop over the
// same bytes (decode + split + touch each line).
import { createLineProcessor } from '../watchers/logs/line-processor.ts';
import type { Config, SourceConfig, WatcherSink } from '../src/types.ts';
import { figure, median, type Figure } from './lib/report.ts';

const LINES = 500_000;
const CHUNK = 64 * 1024;

function corpus(): Buffer {
  const progs = ['kernel', 'sshd[812]', 'CRON[4411]', 'systemd[1]', 'rsyslogd', 'postfix/smtpd[2231]', 'nslcd[77]', 'dbus-daemon[501]'];
  const msgs = [
    'Accepted publickey for admin from 192.0.2.7 port 52114 ssh2: ED25519 SHA256:abcdefghijklmnop',
    '(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)',
    'Started session-42.scope - Session 42 of User admin.',
    'EXT4-fs (vda1): re-mounted 9ae3-1 r/w. Quota mode: none.',
    'connect from unknown[198.51.100.23]',
    'nfsd: last server has exited, flushing export cache',
  ];
  const parts: string[] = [];
  for (let i = 0; i < LINES; i++) {
    const s = String(i % 60).padStart(2, '0');
    parts.push(`2026-11-22T05:${s}:${s}.${String(i % 1e6).padStart(6, '0')}+00:00 boot-srv ${progs[i % progs.length]}: ${msgs[i % msgs.length]} #${i}\n`);
  }
  return Buffer.from(parts.join(''));
}

function feed(buf: Buffer, push: (b: Buffer) => void): number {
  const t0 = performance.now();
  for (let off = 0; off < buf.length; off += CHUNK) push(buf.subarray(off, Math.min(buf.length, off + CHUNK)));
  return performance.now() - t0;
}

export async function benchSyslogIngest(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const buf = corpus();
  log(`  ${LINES} unrelated lines, ${(buf.length / 1e6).toFixed(1)} MB, fed in ${CHUNK / 1024} KiB chunks`);
  const source = { type: 'syslog', path: '/var/log/syslog', from_start: false, programs: [] } as SourceConfig;
  const config = { tftp_root: '/srv/tftp', trusted_programs: ['in.tftpd', 'atftpd', 'dnsmasq-tftp', 'dnsmasq-dhcp', 'dnsmasq'] } as unknown as Config;
  let events = 0;
  const sink: WatcherSink = { event: () => events++, bad: () => {} };
  const ours: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < 6; r++) {
    const p = createLineProcessor({ config, source, sink });
    ours.push(feed(buf, (b) => p.push(b)));
    if (p.stats.lines !== LINES) throw new Error(`line processor saw ${p.stats.lines} lines, expected ${LINES}`);
    let tail = '';
    let n = 0;
    base.push(
      feed(buf, (b) => {
        const parts = (tail + b.toString('utf8')).split('\n');
        tail = parts.pop()!;
        for (const l of parts) n += l.length > 0 ? 1 : 0;
      }),
    );
    if (n !== LINES) throw new Error(`split loop saw ${n} lines, expected ${LINES}`);
  }
  if (events !== 0) throw new Error(`unrelated lines produced ${events} events`);
  ours.shift();
  base.shift(); // warm-up
  const rate = LINES / (median(ours) / 1000);
  const baseRate = LINES / (median(base) / 1000);
  log(`  line processor ${Math.round(rate).toLocaleString('en-US')} lines/s; bare split loop ${Math.round(baseRate).toLocaleString('en-US')} lines/s`);
  return {
    figures: [figure({ bench: 'scale', metric: 'syslog ingestion, unrelated lines', unit: 'lines/s', value: rate, baseline: { what: "bare split('\\n') loop", value: baseRate }, op: '>=', limit: 200_000 })],
    raw: { processorMs: ours, splitMs: base, lines: LINES, bytes: buf.length },
  };
}
