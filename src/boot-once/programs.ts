// Which files a boot-once profile boots: the program a pxelinux, GRUB or iPXE config hands control
// to. A `done_when: served` profile is done when one of them is fetched, so the names come from the
// profile's own templates (or its `boot_file` key). Pure.

/** Lines that load the program a config boots: pxelinux KERNEL/LINUX, GRUB linux/linuxefi/linux16/chainloader, iPXE kernel/chain. */
const LOADER_LINE = /^\s*(kernel|linux|linuxefi|linux16|chainloader|chain)\s+(.*)$/i;

/** The base name of a path or URL as a TFTP/HTTP log shows its file: no directory, no query, no GRUB device. */
export function programBaseName(ref: string): string | undefined {
  let p = ref.replace(/^\([^)]*\)/, ''); // GRUB (tftp,10.0.0.1)/file
  p = p.replace(/[?#].*$/, '');
  const base = p.slice(p.lastIndexOf('/') + 1);
  // a name made by a variable is known only once rendered; `boot_file` names it instead
  if (base === '' || /\{\{|<NODE>|\$/.test(base)) return undefined;
  return /^[A-Za-z0-9._+-]{1,128}$/.test(base) ? base : undefined;
}

/** Base names of the programs a boot config loads, in order, without repeats. */
export function bootPrograms(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = LOADER_LINE.exec(line);
    if (!m) continue;
    // skip options (GRUB chainloader --force, iPXE kernel --name x)
    const args = m[2]!.trim().split(/\s+/);
    let i = 0;
    while (i < args.length && args[i]!.startsWith('-')) i += args[i] === '--name' || args[i] === '-n' ? 2 : 1;
    const base = args[i] === undefined ? undefined : programBaseName(args[i]!);
    if (base !== undefined && !out.includes(base)) out.push(base);
  }
  return out;
}

/** Does a fetched file (relative to tftp_root, or a URL path) name one of these programs? */
export function isProgramOf(file: string, programs: readonly string[] | undefined): boolean {
  if (!programs || programs.length === 0) return false;
  const base = programBaseName(file);
  return base !== undefined && programs.includes(base);
}
