// The inbox's neighbour lookup (src/pipeline/inbox.ts): a client seen only by its IP (a TFTP log
// line, a hex-IP config name) gets its MAC from what the inbox remembers of clients that are not
// nodes, else from the kernel's neighbour table (`ip neigh`, neighbour.ts), since it just talked to us.
// A client the table does not know is not asked about again for a while: a chatty log must not
// spawn `ip neigh` per line.
import type { Logger } from 'pino';
import type { DaemonDeps } from '../daemon/deps.ts';
import { errorMessage } from '../errors.ts';
import type { Runner } from '../runner.ts';
import { NEIGHBOUR_RETRY_MS } from '../timing.ts';
import type { Config } from '../types.ts';

/** Bounded ip -> mac memory of clients that are not nodes (a node's record knows its MAC). */
const IPMAC_MAX = 200_000;
/** Bounded memory of IPs the neighbour table did not know. */
const MISSED_MAX = 50_000;

/** What the inbox knows of clients' MACs beyond the node records. */
export interface MacFinder {
  /** the MAC remembered for a client that is not a node */
  known(ip: string): string | undefined;
  /** a client that is not a node was seen with this MAC */
  remember(ip: string, mac: string): void;
  /** the client is a node now: its record knows its MAC */
  forget(ip: string): void;
  /** ask the neighbour table; undefined (no lookup) when it was asked in vain lately or the IP can match no rule */
  lookup(ip: string): Promise<string | undefined> | undefined;
}

/** What the lookup needs of the daemon. */
export interface MacFinderContext {
  readonly log: Logger;
  readonly deps: Pick<DaemonDeps, 'matchClient' | 'lookupNeighbourMac'>;
  config(): Config;
}

/** The inbox's MAC memory and neighbour lookups; see the top comment. */
export function createMacFinder(core: MacFinderContext, runner: Runner): MacFinder {
  const ipToMac = new Map<string, string>();
  const missed = new Map<string, number>();
  const remember = (ip: string, mac: string) => {
    if (ipToMac.size >= IPMAC_MAX && !ipToMac.has(ip)) ipToMac.clear();
    ipToMac.set(ip, mac);
  };
  function worthwhile(ip: string): boolean {
    const until = missed.get(ip);
    if (until !== undefined && until > Date.now()) return false;
    // outside every subnet nothing can match, whatever the MAC: no lookup
    const kind = core.deps.matchClient({ ip }, core.config()).kind;
    return kind !== 'none' && kind !== 'reserved';
  }
  async function ask(ip: string): Promise<string | undefined> {
    let mac: string | undefined;
    try {
      mac = await core.deps.lookupNeighbourMac(runner, core.config().commands.ip, ip);
    } catch (e) {
      core.log.debug({ ip, err: errorMessage(e) }, 'neighbour lookup failed');
    }
    if (mac) {
      missed.delete(ip);
      remember(ip, mac);
    } else {
      if (missed.size >= MISSED_MAX) missed.clear();
      missed.set(ip, Date.now() + NEIGHBOUR_RETRY_MS);
    }
    return mac;
  }
  return {
    known: (ip) => ipToMac.get(ip),
    remember,
    forget(ip) {
      if (ipToMac.size) ipToMac.delete(ip);
    },
    lookup: (ip) => (worthwhile(ip) ? ask(ip) : undefined),
  };
}
