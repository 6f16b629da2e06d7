// A minimal Config/WatcherContext for watcher unit tests: events and bad inputs are collected.
import type { WatcherContext } from '../../../../src/contracts.ts';
import type { BadInput, ClientEvent, Config, SourceConfig } from '../../../../src/types.ts';
import { silentLogger } from '../../../../src/log.ts';
import { createFakeRunner } from '../../../helpers/fake-runner.ts';
import type { Runner } from '../../../../src/runner.ts';

export const DEFAULT_TRUSTED = ['in.tftpd', 'atftpd', 'dnsmasq-tftp', 'dnsmasq-dhcp'];

export function testConfig(over: Partial<Config> = {}): Config {
  return {
    file: '/etc/pxebootd/pxebootd.yaml',
    state_dir: '/var/lib/pxebootd',
    tftp_root: '/srv/tftp',
    server: '10.99.0.1',
    sources: [],
    exports: { backend: 'kernel', file: '/etc/exports.d/pxebootd.exports', options: 'rw', start_fsid: 10000, etab: '/var/lib/nfs/etab' },
    grub_dir: 'grub',
    ipxe_dir: 'ipxe',
    commands: { mount: 'mount', umount: 'umount', exportfs: 'exportfs', journalctl: 'journalctl', ip: 'ip' },
    trusted_programs: DEFAULT_TRUSTED,
    control_socket: '/run/pxebootd.sock',
    queue: { concurrency: 4, retry_base_ms: 100, retry_max_ms: 1000 },
    subnets: [],
    hosts: [],
    ...over,
  };
}

export interface Collected {
  ctx: WatcherContext;
  events: ClientEvent[];
  bad: BadInput[];
}

export function collectingContext(source: SourceConfig, over: Partial<Config> = {}, runner?: Runner): Collected {
  const events: ClientEvent[] = [];
  const bad: BadInput[] = [];
  const ctx: WatcherContext = {
    config: testConfig(over),
    source,
    log: silentLogger(),
    runner: runner ?? createFakeRunner(),
    sink: { event: (e) => events.push(e), bad: (b) => bad.push(b) },
  };
  return { ctx, events, bad };
}

/** Events without the fields that vary per run, for deepEqual against fixtures. */
export function stable(e: ClientEvent): Record<string, unknown> {
  const { time: _t, source: _s, sourceType: _st, ...rest } = e;
  return rest;
}

/** Small deterministic PRNG (xorshift32) for fuzz tests. */
export { xorshift32 as xorshift } from '../../../helpers/prng.ts';
