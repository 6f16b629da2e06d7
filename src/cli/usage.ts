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
  hook add|old|del|tftp ARGS...        dnsmasq --dhcp-script entry point (never blocks dnsmasq)
  import-legacy <pxebootfs.cfg> [--cidr C] [--server IP]
                                       print a pxebootd.yaml converted from a fuse_pxebootfs config

Options:
  -c, --config FILE   config file (default ${DEFAULT_CONFIG}, or $PXEBOOTD_CONFIG)
  -h, --help          this help
  -V, --version       print the version

Exit codes: 0 ok, 1 error (config problems print as FILE:LINE:COL: message), 2 usage.
`;
