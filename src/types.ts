// Shared contracts between watchers, queue, rules, provisioners, state and CLI.
// Everything here is data: no I/O, no classes, so every layer can be tested with plain values.

/** Kinds of event source; `hook` is dnsmasq's --dhcp-script, `cli` is provision/release by hand. */
export type SourceType =
  | 'dnsmasq-leases'
  | 'isc-leases'
  | 'kea-leases'
  | 'syslog'
  | 'journal'
  | 'dhcp-snoop'
  | 'http-log'
  | 'hook'
  | 'cli';

/** A client was seen. At least one of mac/ip is set; values are already validated and normalised. */
export interface ClientSeen {
  kind: 'seen';
  /** lower-case, colon-separated, 6 octets: "52:54:00:12:34:56" */
  mac?: string;
  /** dotted-quad IPv4 */
  ip?: string;
  /** RFC 1123 label(s), lower-case; absent when the client sent none or an invalid one */
  hostname?: string;
  /** where it came from, e.g. "dnsmasq-leases:/var/lib/misc/dnsmasq.leases" */
  source: string;
  sourceType: SourceType;
  /** ms since the epoch when the watcher saw it */
  time: number;
  /** DHCP option 93, IANA processor architecture type */
  arch?: number;
  /** DHCP option 97 UUID, lower-case hyphenated */
  uuid?: string;
  /** raw DHCP option 60 */
  vendorClass?: string;
  /** file the client requested, relative to tftp_root, when the event came from a TFTP or HTTP log */
  file?: string;
  /** lease expiry (ms since epoch), 0 = infinite, when the source knows it */
  expires?: number;
  /** dnsmasq tags of the lease (DNSMASQ_TAGS), when the dhcp-script hook reported them */
  tags?: string[];
  /** DHCP option 61 client identifier, lower-case hex pairs joined by ':' (hook, dhcp-snoop) */
  clientId?: string;
  /** 'trusted': the source proved who wrote it (journald's _UID/_EXE show the real daemon); src/trust.ts decides what that allows */
  evidence?: 'trusted';
}

/** A client's lease ended (release, expiry, deletion). */
export interface ClientGone {
  kind: 'gone';
  mac?: string;
  ip?: string;
  source: string;
  sourceType: SourceType;
  time: number;
  reason?: string;
}

export type ClientEvent = ClientSeen | ClientGone;

/** Something a watcher skipped: logged with where it came from, never thrown. */
export interface BadInput {
  source: string;
  /** 1-based line number, or byte offset, whichever the source has */
  line?: number;
  offset?: number;
  reason: string;
  /** a truncated, printable copy of the offending input */
  sample: string;
}

/** A running watcher: `start` begins emitting, `stop` releases every fd/process/watch. */
export interface Watcher {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface WatcherSink {
  event(e: ClientEvent): void;
  bad(b: BadInput): void;
}

/** `verifying`: its boot files are a boot-once profile's; `quarantined`: a profile failed, production is withheld. */
export type NodeState = 'pending' | 'ready' | 'failed' | 'released' | 'verifying' | 'quarantined';

/** Every node state, in the order status and metrics list them. */
export const NODE_STATES: readonly NodeState[] = ['pending', 'ready', 'failed', 'released', 'verifying', 'quarantined'];

/** How one boot-once profile ended: served/pass go on, fail/timeout/rebooted quarantine, cancelled by hand. */
export type ProfileOutcome = 'served' | 'pass' | 'fail' | 'timeout' | 'rebooted' | 'cancelled';

/** One finished boot-once profile of a node. */
export interface ProfileResult {
  profile: string;
  result: ProfileOutcome;
  time: number;
  /** what the node reported (JSON, bounded), or why the daemon decided */
  details?: unknown;
  /** base names of its boot programs (a later fetch of one is a stale boot, see boot-once machine) */
  programs?: string[];
}

/** The profile a node boots next (or is booting). */
export interface CurrentProfile {
  profile: string;
  /** when its token was issued and its programs recorded (its files are being written) */
  issuedAt?: number;
  /** when its boot files were written: from then on they are never rewritten (they hold the token) */
  activeAt?: number;
  /** sha256 (hex) of the one-time report token; cleared when used */
  tokenHash?: string;
  /** base names of the files whose fetch shows the node booting it */
  programs?: string[];
  /** first fetch of one of its programs */
  bootedAt?: number;
  /** booted again without a report, told only by a source that may not fail a node (syslog, journald): its files are withdrawn so it does not boot again; its token still counts */
  held?: { since: number; file: string; source?: string };
  /** ms since the epoch after which it has failed (timeout) */
  deadline?: number;
}

/** A node's boot-once bookkeeping (pxebootd boot-once, first_boot). */
export interface BootOnceRecord {
  /** profiles after `current`, in order */
  queue: string[];
  current?: CurrentProfile;
  /** finished profiles, oldest first (bounded) */
  results: ProfileResult[];
  /** set by a fail or timeout; cleared only by release or boot-once --cancel */
  quarantined?: { since: number; profile: string; why: string };
}

/** One entry of a node's last-boot timeline (lease, each TFTP file, ready). */
export interface TimelineEntry {
  time: number;
  what: string;
  source?: string;
}

/** Persisted per-node record. `fsid` never changes once assigned. */
export interface NodeRecord {
  name: string;
  ip: string;
  mac?: string;
  hostname?: string;
  subnet: string;
  state: NodeState;
  fsid: number;
  lastSeen: number;
  sources: string[];
  lastError?: string;
  arch?: number;
  uuid?: string;
  /** the ResolvedRule fingerprint the node was provisioned with, to detect rule changes */
  ruleKey?: string;
  readyAt?: number;
  timeline?: TimelineEntry[];
  /** boot-once profiles: queue, current, results, quarantine */
  bootOnce?: BootOnceRecord;
  /** the image (rule `image:`) whose version is this node's lower layer */
  image?: string;
  /** the version of `image` the node runs: set at its provision, changed only at its next boot */
  image_version?: string;
}

// ---- configuration (the shape after validation and defaults) ----

export type LeaseSourceType = 'dnsmasq-leases' | 'isc-leases' | 'kea-leases';

export type SourceConfig =
  | { type: LeaseSourceType; path: string }
  | { type: 'syslog'; path: string; from_start: boolean; programs: string[]; format?: SyslogLayout }
  | { type: 'journal'; identifiers: string[]; directory?: string; trusted_users?: string[] }
  | { type: 'dhcp-snoop'; interface: string; port: number; new_client_burst: number; new_clients_per_second: number }
  | { type: 'http-log'; path: string; from_start: boolean; format: 'combined' | 'nginx' };

export interface ExportsConfig {
  backend: 'kernel' | 'ganesha';
  /** the one file pxebootd owns: an exports(5) drop-in, or a Ganesha %include file */
  file: string;
  options: string;
  start_fsid: number;
  /** ganesha: pid file to SIGHUP */
  pid_file?: string;
  /** ganesha: Pseudo = pseudo_root/<NODE>; unset means Pseudo = Path */
  pseudo_root?: string;
  /** ganesha: change single exports over DBus (auto: when Ganesha answers on the system bus; unset means auto) or always SIGHUP (off) */
  dbus?: 'auto' | 'off';
  /** kernel: where exportfs writes its table, checked after each reload */
  etab: string;
}

export type NodeNaming = 'ip-hex' | 'mac';
export type OverlayMode = 'persistent' | 'ephemeral';
export type ReleasePolicy = 'keep' | 'unexport' | 'remove';
/** What a persistent node's upper does when its image's current version changes (at its next boot). */
export type ImageChangePolicy = 'carry' | 'fresh' | 'stay';

/** Fields a subnet or host rule may set. */
export interface RuleFields {
  root_dir?: string;
  /** an image in images_dir: its current version is the lower layer (instead of root_dir) */
  image?: string;
  on_image_change?: ImageChangePolicy;
  node_dir?: string;
  overlay_dir?: string;
  node_name?: NodeNaming;
  pxe_template?: string;
  grub_template?: string;
  ipxe_template?: string;
  overlay?: OverlayMode;
  on_release?: ReleasePolicy;
  vars?: Record<string, string>;
  ignore?: boolean;
}

export interface SubnetRule extends RuleFields {
  cidr: string;
  /** profiles a newly seen node of this subnet goes through before production */
  first_boot?: string[];
  /** where the rule sits in the config file, for explain and errors */
  pos?: string;
}

export interface HostRule extends RuleFields {
  mac?: string;
  ip?: string;
  hostname?: string;
  pos?: string;
}

/** How overlays are mounted: mount(2) in-process, or the commands.mount/umount tools. */
export type MountMethod = 'syscall' | 'command';
/** The `mount_method` key: `auto` picks syscall when the addon is built and the commands are the stock ones. */
export type MountMethodSetting = 'auto' | MountMethod;

/** A boot-once profile: what a node boots instead of production, once. */
export interface ProfileConfig {
  name: string;
  pxe_template?: string;
  grub_template?: string;
  ipxe_template?: string;
  /** served: done once its boot program was fetched; reported: done when the node POSTs its result */
  done_when: 'served' | 'reported';
  /** no result this long after its files were written = failed (quarantine) */
  timeout_ms?: number;
  /** own: the node's NFS root is mounted and exported before its files are written */
  root: 'own' | 'none';
  /** base names of its boot programs; default: taken from the templates' KERNEL/LINUX/linux/chainloader/kernel/chain lines */
  boot_file?: string[];
  pos?: string;
}

/** The profile a quarantined node gets, when configured. */
export const QUARANTINE_PROFILE = 'quarantine';

/** How a syslog file's writer lays out its lines (`auto`: learned from the lines, see syslog-line.ts). */
export type SyslogLayout = 'auto' | 'rsyslog' | 'plain' | 'busybox';

export interface Config {
  /** absolute path of the file this came from */
  file: string;
  state_dir: string;
  /** the image store (`pxebootd image`): images_dir/<name>/<version>/; default /var/lib/pxebootd/images */
  images_dir?: string;
  tftp_root: string;
  server: string;
  /** URL of an HTTP server serving tftp_root (no trailing slash): {{http_base}} */
  http_base?: string;
  sources: SourceConfig[];
  exports: ExportsConfig;
  default_template?: string;
  grub_dir: string;
  /** iPXE per-node scripts, relative to tftp_root */
  ipxe_dir: string;
  commands: {
    mount: string;
    umount: string;
    exportfs: string;
    journalctl: string;
    ip: string;
    /** dbus-send(1), for the ganesha backend's DBus calls; unset means `dbus-send` */
    dbus_send?: string;
  };
  /** default auto */
  mount_method?: MountMethodSetting;
  /** program tags whose log lines are trusted (TFTP and DHCP daemons) */
  trusted_programs: string[];
  control_socket: string;
  queue: { concurrency: number; retry_base_ms: number; retry_max_ms: number };
  /** NBP requests within this many ms of a node's last (re)provision or boot belong to that boot (default 30000) */
  boot_guard_ms?: number;
  metrics?: { listen: string };
  /** boot-once profiles by name */
  profiles?: Record<string, ProfileConfig>;
  /** where nodes in a reporting profile POST their result */
  report?: { listen: string };
  subnets: SubnetRule[];
  hosts: HostRule[];
}

/** The rule that applies to one client, every field filled in. */
export interface ResolvedRule {
  subnet: SubnetRule;
  host?: HostRule;
  /** human-readable reasons, most important first, for `explain` */
  why: string[];
  root_dir: string;
  node_dir: string;
  overlay_dir: string;
  node_name: NodeNaming;
  pxe_template?: string;
  grub_template?: string;
  ipxe_template?: string;
  overlay: OverlayMode;
  on_release: ReleasePolicy;
  vars: Record<string, string>;
  /** set when the lower layer is an image: root_dir is then one of its versions (see src/images/node-lower.ts) */
  image?: string;
  /** only with `image`; carry when unset */
  on_image_change?: ImageChangePolicy;
}

export type MatchResult =
  | { kind: 'match'; rule: ResolvedRule }
  /** `by`: the rule that says ignore, named without client data ("subnet CIDR at FILE:L:C", "host rule at FILE:L:C") */
  | { kind: 'ignored'; why: string[]; by: string }
  | { kind: 'none'; why: string[] }
  /** an address that is never a client's (0.0.0.0, a broadcast, a network address, the server): never provisioned */
  | { kind: 'reserved'; why: string[] };
