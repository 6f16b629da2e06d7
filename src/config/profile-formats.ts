// Formats of the boot-once keys (profiles, report, first_boot): profile names, durations and
// boot-program names. Pure; the schema turns each message into a problem at the key.

/** Profile names: they appear in status, metrics labels and log lines. */
const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** Why a profile name is refused, or undefined. */
export function checkProfileName(s: string): string | undefined {
  return PROFILE_NAME.test(s) ? undefined : `expected a profile name of lower-case letters, digits, "_" and "-" (at most 32, starting with a letter or digit), found ${JSON.stringify(s)}`;
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "90s", "30m", "2h", "1d", "500ms" -> milliseconds; undefined when it is not one. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(s.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms > 0 ? ms : undefined;
}

/** Why a duration is refused, or undefined. */
export function checkDuration(s: string): string | undefined {
  return parseDuration(s) === undefined ? `expected a duration such as 90s, 30m, 2h or 1d (greater than 0), found ${JSON.stringify(s)}` : undefined;
}

/** A boot program's base name as a TFTP log shows it: no directory, no spaces or controls. */
export function checkBootFileName(s: string): string | undefined {
  return /^[A-Za-z0-9._+-]{1,128}$/.test(s) && s !== '.' && s !== '..' ? undefined : `expected the base name of a boot program (letters, digits, . _ + -), such as memtest86+x64.bin, found ${JSON.stringify(s)}`;
}
