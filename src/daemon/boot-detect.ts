// Telling a new boot of an already-ready node from its TFTP requests. A rebooting PXE client usually
// keeps its DHCP lease (the server re-ACKs the same address), so the lease never ends; what does
// mark every boot is the client fetching its network bootstrap program (NBP) again.
import type { NodeRecord } from '../types.ts';

/**
 * NBP file names that begin a PXE boot, matched on the base name at any directory depth, case
 * insensitive: pxelinux.0, lpxelinux.0 and any NAME.0 (PXE ROM loaders), NAME.kpxe and NAME.pxe
 * (iPXE: undionly.kpxe, ipxe.pxe), NAME.efi (syslinux.efi, grubx64.efi, ipxe.efi, snponly.efi,
 * bootx64.efi). NAME has no dot, so versioned kernels such as vmlinuz-6.1.0 never count.
 */
export const BOOT_PROGRAM_EXTENSIONS = ['0', 'kpxe', 'pxe', 'efi'] as const;

/** Default of `boot_guard_ms`: NBP requests this soon after a (re)provision or a boot are the same boot. */
export const BOOT_GUARD_MS = 30_000;

/** Timeline entries that record a detected boot start with this prefix. */
export const BOOT_ENTRY_PREFIX = 'boot (';

const NBP = new RegExp(`^[a-z0-9_+-]+\\.(${BOOT_PROGRAM_EXTENSIONS.join('|')})$`, 'i');

/** Is this TFTP file (relative to tftp_root) a network bootstrap program that starts a boot? */
export function isBootProgram(file: string): boolean {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return NBP.test(base);
}

/**
 * Does an NBP request at `time` start a new boot of `node`? Only for a ready node with no work
 * queued or running (`busy`), whose last (re)provision and last recorded boot are both at least
 * `guardMs` old: pxelinux and iPXE fetch the NBP several times within seconds, and the fallback
 * config re-runs pxelinux.0 while the node is still being provisioned.
 */
export function isNewBoot(node: NodeRecord | undefined, file: string | undefined, time: number, busy: boolean, guardMs: number): boolean {
  if (!node || file === undefined || node.state !== 'ready' || busy || !isBootProgram(file)) return false;
  let last = node.readyAt ?? 0;
  for (const t of node.timeline ?? []) if (t.what.startsWith(BOOT_ENTRY_PREFIX)) last = Math.max(last, t.time);
  return time - last >= guardMs;
}
