// The one config schema (zod 4): types, formats and defaults. Strict objects, so a misspelt key is
// an error rather than a silently ignored setting. Cross-field rules live in semantics.ts; the
// JSON Schema for editors (etc/pxebootd.schema.json) is generated from this file.
import * as z from 'zod';
import {
  checkCidr, checkExportOptions, checkInterface, checkListen,
  checkPath, checkProgram, checkPseudoRoot, checkHttpBase, checkServer, checkTftpSubdir, checkUserName, checkVarName,
} from './formats.ts';
import { checkBootFileName, checkDuration, checkProfileName } from './profile-formats.ts';
import { hostnameError, ipv4Error, macError } from '../validate.ts';
import { checkComponent } from '../images/names.ts';

/** An image name: the same rule as `pxebootd image` applies. */
const checkImageName = (s: string): string | undefined => checkComponent(s, 'image name');

/** A string that must also pass a format check (the check's message becomes the problem). */
function fmt(check: (s: string) => string | undefined, description: string) {
  return z
    .string()
    .superRefine((s, ctx) => {
      const m = check(s);
      if (m) ctx.addIssue({ code: 'custom', message: m });
    })
    .meta({ description });
}

const path = (d: string) => fmt(checkPath, d);

/** Log programs whose lines are trusted by default (TFTP and DHCP daemons). */
export const DEFAULT_TRUSTED_PROGRAMS = ['in.tftpd', 'atftpd', 'dnsmasq-tftp', 'dnsmasq-dhcp'];

const leaseSource = (type: 'dnsmasq-leases' | 'isc-leases' | 'kea-leases') =>
  z.strictObject({ type: z.literal(type), path: path('lease file to follow (may appear later)') });

/** One event source; `type` picks the shape. */
export const sourceSchema = z.discriminatedUnion('type', [
  leaseSource('dnsmasq-leases'),
  leaseSource('isc-leases'),
  leaseSource('kea-leases'),
  z.strictObject({
    type: z.literal('syslog'),
    path: path('syslog file with TFTP/DHCP daemon lines'),
    from_start: z.boolean().default(false).meta({ description: 'read the whole file at start-up instead of only new lines' }),
    programs: z.array(fmt(checkProgram, 'program tag')).optional().meta({ description: 'program tags to trust; default: trusted_programs' }),
    format: z.enum(['auto', 'rsyslog', 'plain', 'busybox']).default('auto').meta({ description: 'how the file\'s writer lays out lines: rsyslog (TS HOST TAG:), plain (TS TAG:, dnsmasq log-facility and busybox -S), busybox (TS HOST facility.level TAG:); auto learns it from the lines' }),
  }),
  z.strictObject({
    type: z.literal('journal'),
    identifiers: z.array(fmt(checkProgram, 'SYSLOG_IDENTIFIER')).optional().meta({ description: 'default: trusted_programs' }),
    directory: path('journal directory (journalctl -D); default: the system journal').optional(),
    trusted_users: z
      .array(fmt(checkUserName, 'user name'))
      .optional()
      .meta({ description: 'users (from /etc/passwd) whose entries, logged by the tag\'s own executable (_UID, _EXE/_COMM), are trusted evidence of a second boot; default: root, tftp, dnsmasq (those that exist); [] for none' }),
  }),
  z.strictObject({
    type: z.literal('dhcp-snoop'),
    interface: fmt(checkInterface, 'the one interface whose DHCP client packets are read (a packet socket bound to it; loopback is refused)'),
    port: z.number().int().min(1).max(65535).default(67).meta({ description: 'UDP port clients send to (the DHCP server port); default 67' }),
    new_client_burst: z.number().int().min(1).max(100000).default(100).meta({ description: 'new clients (MAC and address) snoop passes on at once before the rate applies; default 100' }),
    new_clients_per_second: z.number().positive().max(100000).default(10).meta({ description: 'new clients per second snoop passes on after the burst; default 10' }),
  }),
  z.strictObject({
    type: z.literal('http-log'),
    path: path('access log of the HTTP server that serves tftp_root (nginx, Apache)'),
    format: z.enum(['combined', 'nginx']).default('combined').meta({ description: 'combined: the combined format of nginx and Apache (nginx\'s default); nginx: also nginx\'s stock `main` (combined plus "$http_x_forwarded_for")' }),
    from_start: z.boolean().default(false).meta({ description: 'read the whole file at start-up instead of only new lines' }),
  }),
]);

/** Fields shared by subnet and host rules; hosts override their subnet field by field. */
const ruleFields = {
  root_dir: path('shared read-only lower layer (must exist); or use image').optional(),
  image: fmt(checkImageName, 'an image of images_dir (pxebootd image add): its current version is the lower layer at each node\'s provision and next boot; instead of root_dir').optional(),
  on_image_change: z
    .enum(['carry', 'fresh', 'stay'])
    .optional()
    .meta({ description: 'with image, when a newer version is current at a persistent node\'s next boot: carry (default) its upper onto it, fresh (a new empty upper; the old one is kept for rollback), stay (keep its version until released)' }),
  node_dir: path('where node roots are mounted: node_dir/<NODE> (created when missing)').optional(),
  overlay_dir: path('per-node upper/work layers: overlay_dir/<NODE>/{upper,work} (created when missing)').optional(),
  node_name: z.enum(['ip-hex', 'mac']).optional().meta({ description: 'ip-hex (as fuse_pxebootfs) | mac; default ip-hex' }),
  pxe_template: path('pxelinux template (must exist)').optional(),
  grub_template: path('GRUB template (must exist)').optional(),
  ipxe_template: path('iPXE template (must exist)').optional(),
  overlay: z.enum(['persistent', 'ephemeral']).optional().meta({ description: 'default persistent' }),
  on_release: z.enum(['keep', 'unexport', 'remove']).optional().meta({ description: 'default keep' }),
  vars: z
    .record(fmt(checkVarName, 'variable name'), z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .meta({ description: 'free template variables: {{name}}' }),
  ignore: z.boolean().optional().meta({ description: 'never provision matching clients' }),
};

/** A subnet rule: its CIDR plus rule fields. */
export const subnetSchema = z.strictObject({
  cidr: fmt(checkCidr, 'IPv4 network, e.g. 10.0.0.0/24'),
  ...ruleFields,
  first_boot: z.array(fmt(checkProfileName, 'profile name')).optional().meta({ description: 'profiles (names under `profiles`) a newly seen node goes through, once each, before production' }),
});

/** A boot-once profile: what a node boots once instead of production (pxebootd boot-once, first_boot). */
export const profileSchema = z.strictObject({
  pxe_template: path('pxelinux template of this profile (same file names as production)').optional(),
  grub_template: path('GRUB template of this profile').optional(),
  ipxe_template: path('iPXE template of this profile').optional(),
  done_when: z.enum(['served', 'reported']).meta({ description: 'served: done once its boot program was fetched (TFTP/HTTP log, hook); reported: done when the node POSTs its result to report.listen' }),
  timeout: fmt(checkDuration, 'no result this long after its files were written = failed (quarantine); e.g. 2h; default 2h for reported, none for served').optional(),
  root: z.enum(['own', 'none']).default('none').meta({ description: 'own: the node\'s NFS root is mounted and exported before the profile\'s files are written ({{nfs_path}}); none: it is not needed (memtest86+)' }),
  boot_file: z.array(fmt(checkBootFileName, 'boot program base name')).optional().meta({ description: 'base names of the boot programs whose fetch means served; default: from the templates\' KERNEL/LINUX/linux/chainloader/kernel/chain lines' }),
});

/** The report endpoint nodes in a reporting profile POST to. */
export const reportSchema = z.strictObject({ listen: fmt(checkListen, 'HOST:PORT where nodes POST /v1/report ({{report_url}})') });

/** A host rule: matched by mac, ip or hostname; its fields override the subnet's. */
export const hostSchema = z.strictObject({
  mac: fmt(macError, 'client MAC').optional(),
  ip: fmt(ipv4Error, 'client IPv4 address').optional(),
  hostname: fmt(hostnameError, 'client host name (exact, case-insensitive)').optional(),
  ...ruleFields,
});

/** The NFS side: which server, which file pxebootd owns, and the fsid range. */
export const exportsSchema = z.strictObject({
  backend: z.enum(['kernel', 'ganesha']).default('kernel'),
  file: path('the one exports file pxebootd owns').default('/etc/exports.d/pxebootd.exports'),
  options: fmt(checkExportOptions, 'exports(5) options; fsid= is set by pxebootd').default('rw,no_root_squash,no_subtree_check,sync'),
  start_fsid: z.number().int().min(1).max(4294967295).default(10000),
  pid_file: path('ganesha: pid file to SIGHUP').optional(),
  pseudo_root: fmt(checkPseudoRoot, 'ganesha: Pseudo = pseudo_root/<NODE>').optional(),
  dbus: z
    .enum(['auto', 'off'])
    .default('auto')
    .meta({ description: "ganesha: add and remove single exports over DBus (org.ganesha.nfsd on the system bus) when Ganesha answers there, else SIGHUP (auto); off = always SIGHUP" }),
  etab: path('kernel: exportfs table checked after each reload').default('/var/lib/nfs/etab'),
});

/** External tools, so that distributions with other paths need no code change. */
export const commandsSchema = z.strictObject({
  mount: path('mount(8)').default('mount'),
  umount: path('umount(8)').default('umount'),
  exportfs: path('exportfs(8)').default('exportfs'),
  journalctl: path('journalctl(1)').default('journalctl'),
  ip: path('ip(8)').default('ip'),
  dbus_send: path('dbus-send(1), for the ganesha backend').default('dbus-send'),
});

/** Work queue bounds and retry backoff. */
export const queueSchema = z.strictObject({
  concurrency: z.number().int().min(1).max(65536).default(512),
  retry_base_ms: z.number().int().min(1).default(500),
  retry_max_ms: z.number().int().min(1).default(30000),
});

/** The whole file. */
export const configSchema = z
  .strictObject({
    state_dir: path('node state (fsids); created when missing').default('/var/lib/pxebootd'),
    images_dir: path('image store: pxebootd image keeps versions in images_dir/<name>/<version>/').default('/var/lib/pxebootd/images'),
    tftp_root: path('TFTP root; boot files go below it').default('/srv/tftp'),
    server: fmt(checkServer, 'this server on the boot network: {{server}}'),
    http_base: fmt(checkHttpBase, 'URL of an HTTP server that serves tftp_root read-only, e.g. http://10.0.0.1: {{http_base}}').optional(),
    sources: z.array(sourceSchema).default([]),
    exports: exportsSchema.default(exportsSchema.parse({})),
    default_template: path('pxelinux.cfg/default template; pxebootd then owns that file').optional(),
    grub_dir: fmt(checkTftpSubdir, 'GRUB per-node files, relative to tftp_root').default('grub'),
    ipxe_dir: fmt(checkTftpSubdir, 'iPXE per-node scripts, relative to tftp_root').default('ipxe'),
    commands: commandsSchema.default(commandsSchema.parse({})),
    mount_method: z
      .enum(['auto', 'syscall', 'command'])
      .default('auto')
      .meta({ description: 'how overlays are mounted: syscall = mount(2) inside pxebootd (no process per node), command = commands.mount/umount; auto = syscall when its addon is built and commands.mount/umount are the stock tools' }),
    trusted_programs: z.array(fmt(checkProgram, 'program tag')).default(DEFAULT_TRUSTED_PROGRAMS),
    control_socket: path('local control socket (hook, provision, release)').default('/run/pxebootd/control.sock'),
    queue: queueSchema.default(queueSchema.parse({})),
    boot_guard_ms: z
      .number()
      .int()
      .min(0)
      .default(30000)
      .meta({ description: 'a ready node fetching its boot program (pxelinux.0, *.efi, ...) at least this long after its last (re)provision or boot is booting again: ephemeral nodes get a fresh layer' }),
    metrics: z.strictObject({ listen: fmt(checkListen, 'HOST:PORT of the Prometheus endpoint').default('127.0.0.1:9642') }).optional(),
    profiles: z.record(fmt(checkProfileName, 'profile name'), profileSchema).default({}).meta({ description: 'boot-once profiles by name (pxebootd boot-once, first_boot); a profile named quarantine is what a failed node boots' }),
    report: reportSchema.optional(),
    subnets: z.array(subnetSchema).min(1),
    hosts: z.array(hostSchema).default([]),
  })
  .meta({ title: 'pxebootd configuration', description: 'See README.md, "Config reference".' });

/** What the schema yields (defaults applied, paths still as written). */
export type RawConfig = z.output<typeof configSchema>;

/** Allowed keys of each object kind, for "unknown key" messages. */
export const ALLOWED_KEYS = {
  top: Object.keys(configSchema.shape),
  exports: Object.keys(exportsSchema.shape),
  commands: Object.keys(commandsSchema.shape),
  queue: Object.keys(queueSchema.shape),
  metrics: ['listen'],
  report: Object.keys(reportSchema.shape),
  profile: Object.keys(profileSchema.shape),
  subnet: Object.keys(subnetSchema.shape),
  host: Object.keys(hostSchema.shape),
  source: {
    'dnsmasq-leases': ['type', 'path'],
    'isc-leases': ['type', 'path'],
    'kea-leases': ['type', 'path'],
    syslog: ['type', 'path', 'from_start', 'programs', 'format'],
    journal: ['type', 'identifiers', 'directory', 'trusted_users'],
    'dhcp-snoop': ['type', 'interface', 'port', 'new_client_burst', 'new_clients_per_second'],
    'http-log': ['type', 'path', 'format', 'from_start'],
  } as Record<string, string[]>,
};
