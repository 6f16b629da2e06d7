// The loaders' equivalents of the retrying pxelinux.cfg/default: <grub_dir>/grub.cfg and
// <ipxe_dir>/boot.ipxe. Both send a client to its own per-node file, and a client that asks
// before its node is ready waits and asks again instead of failing or booting something else.
// Debian's signed grubnetx64.efi fetches only <prefix>/grub.cfg (prefix /grub) and probes no
// per-node name by itself; `normal` with no argument starts GRUB's own search (grub.cfg-01-<mac>,
// grub.cfg-<HEXIP> shortened to -0, then grub.cfg again), an exported variable tells the two
// passes apart. iPXE gets boot.ipxe as its DHCP filename and chains <mac-hexraw>.ipxe, then
// <ip-hexraw>.ipxe, relative to where boot.ipxe came from (TFTP or HTTP alike).
// These files are pxebootd's only while they carry FALLBACK_MARKER: an admin who removes that
// line (or puts their own file there first) owns the file, and pxebootd never writes it again.
import path from 'node:path';
import { lstat } from 'node:fs/promises';
import type { Config } from '../src/types.ts';
import { writeFileAtomic } from '../src/atomic-file.ts';
import { safeJoin } from '../src/validate.ts';
import { bootDirs } from './boot-files.ts';
import { inBootDir, readHead } from './boot-files-apply.ts';

/** The line that makes a fallback file pxebootd's (first line; second after iPXE's `#!ipxe`). */
export const FALLBACK_MARKER = '# pxebootd: loader fallback; pxebootd rewrites this file. Delete this line to own it.';

/** Seconds a client with no file of its own waits before it asks again. */
export const RETRY_SECONDS = 5;

/** One fallback file a loader fetches before (or instead of) its per-node file. */
export interface FallbackFile {
  loader: 'grub' | 'ipxe';
  file: string;
  text: string;
}

/**
 * The GRUB dispatcher. The first pass loops: `normal` runs GRUB's own search, which boots the
 * node's file when it exists and otherwise loads this file again; that second pass only leaves
 * its nested normal mode (normal_exit), so the loop waits and searches again. No level is added
 * per retry: nesting configfile/normal per retry hits GRUB's "maximum recursion depth exceeded"
 * after about 7 tries and leaves the client at a grub> prompt.
 */
export function grubDispatcher(retrySeconds = RETRY_SECONDS): string {
  return `${FALLBACK_MARKER}
# GRUB network config dispatcher. The per-node files are grub.cfg-01-<mac> and grub.cfg-<HEXIP>,
# written by pxebootd once the node's root is mounted and exported.
set timeout=0
if [ "$pxebootd_phase" = search ]; then
  # GRUB's own search came back to this file: no per-node file for this client yet
  set pxebootd_phase=wait
  export pxebootd_phase
  normal_exit
else
  while [ 1 = 1 ]; do
    set pxebootd_phase=search
    export pxebootd_phase
    # searches $prefix/grub.cfg-01-<mac>, grub.cfg-<HEXIP> ... grub.cfg-0, then this file
    normal
    # one short line: GRUB's console wraps at 80 columns
    echo "pxebootd: no config for $net_default_mac ($net_default_ip), retry in ${retrySeconds} s"
    sleep ${retrySeconds}
  done
fi
`;
}

/** The iPXE dispatcher: the node's script by MAC, then by IP, retried until one exists. */
export function ipxeDispatcher(retrySeconds = RETRY_SECONDS): string {
  return `#!ipxe
${FALLBACK_MARKER}
# iPXE dispatcher: give iPXE this file as its DHCP filename. The per-node scripts
# <mac-hexraw>.ipxe and <ip-hexraw>.ipxe sit beside it, written by pxebootd once the node's
# root is mounted and exported; the names are relative, so they come over TFTP or HTTP,
# whichever served this file.
:retry
chain \${mac:hexraw}.ipxe || chain \${ip:hexraw}.ipxe || goto wait
:wait
echo pxebootd: no boot script for \${mac} (\${ip}) yet; retrying in ${retrySeconds} s
sleep ${retrySeconds}
goto retry
`;
}

/** Which fallback files this config calls for: a loader's, when any rule has its template. */
export function planLoaderFallbacks(config: Pick<Config, 'tftp_root' | 'grub_dir' | 'ipxe_dir' | 'subnets' | 'hosts'>): FallbackFile[] {
  const rules = [...config.subnets, ...config.hosts];
  const dirs = bootDirs(config);
  const out: FallbackFile[] = [];
  if (rules.some((r) => r.grub_template)) out.push({ loader: 'grub', file: safeJoin(dirs.grub, 'grub.cfg'), text: grubDispatcher() });
  if (rules.some((r) => r.ipxe_template)) out.push({ loader: 'ipxe', file: safeJoin(dirs.ipxe, 'boot.ipxe'), text: ipxeDispatcher() });
  return out;
}

/** Does this file start (line 1, or line 2 after `#!`) with the fallback marker? */
export function isFallbackHead(head: string): boolean {
  return head.split('\n', 2).some((l) => l.replace(/\r$/, '') === FALLBACK_MARKER);
}

/** What writing a fallback did: wrote it, found it already current, or left the admin's file alone. */
export type FallbackOutcome = 'written' | 'unchanged' | 'admin-owned';

/**
 * Write a fallback file through its real boot directory (never through a link), temp + rename.
 * Anything at the name that is not a regular file carrying FALLBACK_MARKER (an admin's file, a
 * link, a FIFO) is the admin's: it is left alone and 'admin-owned' is returned.
 */
export async function writeFallback(f: FallbackFile): Promise<FallbackOutcome> {
  return inBootDir(
    f.file,
    true,
    async (here) => {
      const name = here(path.basename(f.file));
      const st = await lstat(name).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
      if (st) {
        if (!st.isFile()) return 'admin-owned';
        const head = await readHead(name, 4096);
        if (head === undefined || !isFallbackHead(head)) return 'admin-owned';
        if (st.size === Buffer.byteLength(f.text) && (await readHead(name, st.size + 1)) === f.text) return 'unchanged';
      }
      await writeFileAtomic(name, f.text, { mode: 0o644 });
      return 'written';
    },
    'unchanged' as FallbackOutcome,
  );
}
