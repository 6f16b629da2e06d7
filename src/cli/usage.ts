// The --help text: the contract's commands, in one place.
import { DEFAULT_CONFIG } from './args.ts';

/** Top-level help. */
export const USAGE = `pxebootd: turns PXE clients into diskless nodes (overlay root, NFS export, boot files)

Usage: pxebootd <command> [-c FILE] [options]

Commands:
  run [--dry-run]                      run the daemon in the foreground (JSON logs on stdout)
  check                                validate the config and its templates
  status [NODE|IP|MAC] [--json] [--watch]
                                       list nodes (from the running daemon, else the state file);
                                       one node: also its last-boot timeline
  explain <mac|ip> [--mac M] [--hostname H] [--json]
                                       which rule matches and why, and the exact plan
  provision <ip> [--mac M] [--hostname H] [--json]
                                       provision one node now (through the running daemon's queue)
  release <ip|mac> [--policy keep|unexport|remove] [--json]
                                       release one node now
  release --all --yes [--policy P]     release every node (decommissioning)
  boot-once <ip|mac> PROFILE [PROFILE...] | --cancel
                                       boot a node once into each profile (memtest, verify),
                                       then production; --cancel ends the queue and quarantine
  hook add|old|del|tftp ARGS...        dnsmasq --dhcp-script entry point (never blocks dnsmasq)
  import-legacy <pxebootfs.cfg> [--cidr C] [--server IP]
                                       print a pxebootd.yaml converted from a fuse_pxebootfs config
  image add NAME SOURCE [--promote]   add an immutable image version (directory, tarball,
                                       oci-archive:FILE, docker-archive:FILE); prints its id
  image list [NAME] [--json]           versions, current, sizes, nodes running each
  image promote NAME VERSION | rollback NAME | prune NAME [--keep N] | rm NAME VERSION
  image edit NAME [--promote] [-- COMMAND ARGS...]
                                       change a copy of the current version; saved on success

Options:
  -c, --config FILE   config file (default ${DEFAULT_CONFIG}, or $PXEBOOTD_CONFIG)
  -h, --help          this help
  -V, --version       print the version

Exit codes: 0 ok, 1 error (config problems print as FILE:LINE:COL: message), 2 usage.
`;

/** Each command's own --help: its synopsis, options and an example, shown for `pxebootd CMD --help` and on a usage mistake. */
export const COMMAND_USAGE: Record<string, string> = {
  run: `Usage: pxebootd run [-c FILE] [--dry-run]

Run the daemon in the foreground, JSON logs on stdout. SIGTERM/SIGINT stop it, SIGHUP reloads
rules and templates.

Options:
  --dry-run           change nothing on the system; log the plan for each client instead
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})

Example:
  pxebootd run --dry-run -c /etc/pxebootd/pxebootd.yaml
`,
  check: `Usage: pxebootd check [-c FILE]

Validate the config and every template it names. Problems print as FILE:LINE:COL: message;
the exit code is 1 when there is any.

Options:
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})

Example:
  pxebootd check -c /etc/pxebootd/pxebootd.yaml
`,
  status: `Usage: pxebootd status [NODE|IP|MAC] [-c FILE] [--json] [--watch]

List the nodes (from the running daemon, else the state file), or one node with its last-boot
timeline. Exit 1 when the node named is not known.

Options:
  --json              machine-readable output
  --watch             redraw every second until interrupted
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})

Examples:
  pxebootd status
  pxebootd status 10.0.0.23 --json
`,
  explain: `Usage: pxebootd explain <mac|ip> [-c FILE] [--mac M] [--hostname H] [--json]

Which rule matches the client and why, and the exact plan (files, mount, export line).
Nothing is applied.

Options:
  --mac M             the client's MAC, when explaining by IP
  --hostname H        the client's DHCP hostname (host rules may match on it)
  --json              machine-readable output
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})

Example:
  pxebootd explain 52:54:00:12:34:56
`,
  provision: `Usage: pxebootd provision <ip> [-c FILE] [--mac M] [--hostname H] [--json]

Provision one node now, through the running daemon's queue (or in-process when none runs).

Options:
  --mac M             the client's MAC (needed for 01-<mac> boot files)
  --hostname H        the client's hostname ({{hostname}})
  --json              machine-readable result
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})

Example:
  pxebootd provision 10.0.0.23 --mac 52:54:00:12:34:56
`,
  release: `Usage: pxebootd release <ip|mac> [-c FILE] [--policy keep|unexport|remove] [--json]
       pxebootd release --all --yes [-c FILE] [--policy keep|unexport|remove] [--json]

Release one node now, or every node (decommissioning a boot server). The default policy from
the command line is unexport (boot files removed, then the export); only --policy remove also
unmounts and deletes the node's writable layer. Its fsid is never reused.

Options:
  --policy P          keep | unexport | remove
  --all               every node known to the daemon (or the state file)
  --yes               confirm --all
  --json              machine-readable result
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})

Examples:
  pxebootd release 10.0.0.23 --policy unexport
  pxebootd release --all --yes
`,
  'boot-once': `Usage: pxebootd boot-once <ip|mac> PROFILE [PROFILE...] [-c FILE] [--json]
       pxebootd boot-once <ip|mac> --cancel [-c FILE] [--json]

Send a node through profiles (names under \`profiles\` in the config) for its next boots, once
each, then production. Its boot files (same names as production) are rendered from the current
profile's templates. A failed or timed-out profile quarantines the node: production files are
withheld until \`pxebootd release\` or --cancel. Through the running daemon's queue, or in-process.

Options:
  --cancel            drop the queue (and quarantine); the node gets its production files
  --json              machine-readable result
  -c, --config FILE   config file (default ${DEFAULT_CONFIG})

Examples:
  pxebootd boot-once 10.0.0.23 memtest verify
  pxebootd boot-once 52:54:00:12:34:56 --cancel
`,
  hook: `Usage: pxebootd hook add|old|del|tftp ARGS... [-c FILE]

The entry point for dnsmasq's --dhcp-script: passes the event (with the DNSMASQ_* variables)
to the running daemon over its control socket and returns at once. dnsmasq calls it as
SCRIPT add|old|del MAC IP [HOSTNAME] or SCRIPT tftp SIZE IP FILE.

Options:
  -c, --config FILE   config file, for the control socket's path (default ${DEFAULT_CONFIG})

Example (dnsmasq.conf):
  dhcp-script=/usr/local/bin/pxebootd-hook
`,
  image: `Usage: pxebootd image add NAME SOURCE [--promote] [-c FILE]
       pxebootd image list [NAME] [--json]
       pxebootd image promote NAME VERSION
       pxebootd image rollback NAME
       pxebootd image prune NAME [--keep N]
       pxebootd image rm NAME VERSION [--keep N]
       pxebootd image edit NAME [--promote] [--via nspawn|chroot] [-- COMMAND ARGS...]
       pxebootd image protect [NAME]

The image store in images_dir (default /var/lib/pxebootd/images): each version is an immutable
directory images_dir/NAME/VERSION, mounted read-only onto itself; "current" points at the one
nodes get at their next boot. Unchanged files are shared between versions (hard links).

  add       SOURCE is a directory, a .tar/.tar.gz/.tar.xz/.tar.zst tarball, oci-archive:FILE or
            docker-archive:FILE. Prints the new version id. The first version becomes current.
  list      versions, which is current (*), sizes (apparent, on disk, and unique: what removing
            that version frees) and the nodes that run each
  promote   make VERSION current; rollback makes the previously promoted one current again
  prune     remove old versions; rm removes one. Never the current version, one a node runs,
            or one of the newest N (--keep, default 3)
  edit      run COMMAND (default: a shell) in a writable copy of the current version, with /proc,
            /sys, /dev and resolv.conf (systemd-nspawn when installed, else chroot); exit 0 saves
            a new version and prints its id, any other exit saves nothing
  protect   mount every version read-only again (after a reboot; every image command does it too)

Options:
  --promote           make the new version current
  --json              machine-readable list
  --keep N            prune/rm: always keep the newest N versions (default 3)
  --via nspawn|chroot edit: force how COMMAND runs (default: nspawn when usable)
  -c, --config FILE   config file, for images_dir and state_dir (default ${DEFAULT_CONFIG})

Examples:
  pxebootd image add base /srv/build/rootfs --promote
  pxebootd image add base oci-archive:/tmp/base.oci.tar
  pxebootd image edit base --promote -- apt-get install -y htop
  pxebootd image rollback base
`,
  'import-legacy': `Usage: pxebootd import-legacy <pxebootfs.cfg> --cidr C [--server IP]

Print a pxebootd.yaml converted from a fuse_pxebootfs config. Relative paths are resolved
against the old config's directory. Exit 2, printing no YAML, when it cannot be converted.

Options:
  --cidr C            the boot subnet (required: fuse_pxebootfs served every client)
  --server IP         this server's address on the boot network ({{server}})

Example:
  pxebootd import-legacy /etc/pxebootfs/pxebootfs.cfg --cidr 10.0.0.0/24 --server 10.0.0.1 > /etc/pxebootd/pxebootd.yaml
`,
};
