// Writes pxebootd(8) in roff to stdout: the CLI's own --help texts (src/cli/usage.ts) and the
// README's configuration reference, so the man page cannot drift from either.
//   node scripts/gen-man.ts [VERSION] [YYYY-MM-DD] > pxebootd.8
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { COMMAND_USAGE, USAGE } from '../src/cli/usage.ts';

/** Escape text for roff: backslashes, and a leading dot or quote that would read as a request. */
function esc(s: string): string {
  const t = s.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return /^[.']/.test(t) ? `\\&${t}` : t;
}

/** Inline markdown to roff: `code` bold, [text](#anchor) plain, **x** bold. */
function inline(md: string): string {
  const parts: string[] = [];
  let rest = md.replace(/\[([^\]]+)\]\((#[^)]*|https?:[^)]*)\)/g, '$1').replace(/\\\|/g, '|');
  for (;;) {
    const m = /`([^`]*)`|\*\*([^*]+)\*\*/.exec(rest);
    if (!m) break;
    parts.push(esc(rest.slice(0, m.index)), `\\fB${esc(m[1] ?? m[2]!)}\\fR`);
    rest = rest.slice(m.index + m[0].length);
  }
  parts.push(esc(rest));
  return parts.join('');
}

/** One line of roff text (a line that starts with a control character is escaped by esc). */
const textLine = (s: string) => (s.startsWith('\\fB') ? s : s.replace(/^([.'])/, '\\&$1'));

/** The section of `md` headed `## title` (its text up to the next heading of level ≤ 3). */
export function readmeSection(md: string, title: string): string {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l === `## ${title}`);
  if (start < 0) throw new Error(`gen-man: README.md has no "## ${title}" section`);
  const end = lines.findIndex((l, i) => i > start && /^#{1,3} /.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** Markdown (paragraphs, bullet lists, ```code```, and a key|default|meaning table) to roff. */
export function markdownToRoff(md: string): string {
  const out: string[] = [];
  const lines = md.split('\n');
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push('.PP', textLine(inline(para.join(' '))));
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('```')) {
      flush();
      out.push('.PP', '.nf', '.RS 4');
      for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) out.push(textLine(esc(lines[i]!)));
      out.push('.RE', '.fi');
    } else if (l.startsWith('|')) {
      flush();
      const cells = l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
      if (cells.every((c) => /^-*$/.test(c)) || cells[0] === 'key' || cells[0] === 'command') continue;
      const [key, ...restCells] = cells;
      out.push('.TP', textLine(inline(key!)));
      if (restCells.length === 2) out.push(textLine(`Default: ${inline(restCells[0]!)}.`), '.br', textLine(inline(restCells[1]!)));
      else out.push(textLine(inline(restCells.join(' '))));
    } else if (/^\s*[-*] /.test(l)) {
      flush();
      const item = [l.replace(/^\s*[-*] /, '')];
      while (i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1]!) && !/^\s*[-*] /.test(lines[i + 1]!)) item.push(lines[++i]!.trim());
      out.push('.IP \\(bu 2', textLine(inline(item.join(' '))));
    } else if (l.trim() === '') flush();
    else para.push(l.trim());
  }
  flush();
  return out.join('\n');
}

/** A command's --help text (Usage line, prose, Options:, Example:) as roff under .SS. */
export function commandToRoff(name: string, text: string): string {
  const blocks = text.trim().split(/\n\n+/);
  const out = [`.SS ${esc(name)}`];
  for (const b of blocks) {
    const [head, ...body] = b.split('\n');
    if (head!.startsWith('Usage: ')) {
      out.push('.PP', `\\fB${esc(head!.slice(7).split(' ').slice(0, 2).join(' '))}\\fR ${esc(head!.slice(7).split(' ').slice(2).join(' '))}`);
    } else if (head === 'Options:') {
      out.push(...optionsToRoff(body));
    } else if (/^Examples?( \(.*\))?:$/.test(head!)) {
      out.push('.PP', esc(head!), '.nf', '.RS 4', ...body.map((l) => textLine(esc(l.trim()))), '.RE', '.fi');
    } else {
      out.push('.PP', textLine(esc(b.split('\n').join(' '))));
    }
  }
  return out.join('\n');
}

/** "  -c, --config FILE   text" lines (continuations indented further) as .TP items. */
function optionsToRoff(lines: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const m = /^ {2}(\S.*?) {2,}(\S.*)$/.exec(l);
    if (m) out.push('.TP', `\\fB${esc(m[1]!)}\\fR`, textLine(esc(m[2]!)));
    else if (l.trim()) out.push(textLine(esc(l.trim())));
  }
  return out;
}

/** The whole page. */
export function manPage(o: { usage: string; commands: Record<string, string>; readme: string; version: string; date: string }): string {
  const summary = o.usage.split('\n')[0]!.replace(/^pxebootd: /, '');
  const globalOpts = o.usage.split('\nOptions:\n')[1]!.split('\n\n')[0]!.split('\n');
  const exit = /^Exit codes: (.*)$/m.exec(o.usage)?.[1] ?? '';
  return [
    `.TH PXEBOOTD 8 "${o.date}" "pxebootd ${esc(o.version)}" "System Administration"`,
    '.SH NAME',
    `pxebootd \\- ${esc(summary)}`,
    '.SH SYNOPSIS',
    ...Object.keys(o.commands).flatMap((c) => ['.PP', `\\fBpxebootd ${esc(c)}\\fR ${esc(o.commands[c]!.split('\n')[0]!.replace(/^Usage: pxebootd \S+ ?/, ''))}`]),
    '.SH DESCRIPTION',
    '.PP',
    'pxebootd watches DHCP leases, TFTP logs and dnsmasq hook events; for each PXE client that a rule in the config matches, it mounts an overlay root (a shared read\\-only lower layer plus a writable layer of the node), exports it over NFS with a stable fsid, and writes the boot files (PXELINUX, GRUB, iPXE) that point the client at it.',
    '.PP',
    'Installed as a service, \\fBsystemctl start pxebootd\\fR runs \\fBpxebootd check\\fR, then \\fBpxebootd run\\fR; \\fBsystemctl reload pxebootd\\fR validates the config, then sends SIGHUP.',
    '.SH COMMANDS',
    ...Object.entries(o.commands).map(([c, t]) => commandToRoff(c, t)),
    '.SH OPTIONS',
    ...optionsToRoff(globalOpts),
    '.SH CONFIGURATION',
    markdownToRoff(readmeSection(o.readme, 'Configuration')),
    '.SH EXIT STATUS',
    '.PP',
    esc(exit),
    '.SH ENVIRONMENT',
    '.TP',
    '\\fBPXEBOOTD_CONFIG\\fR',
    'the config file when \\fB\\-c\\fR is not given',
    '.TP',
    '\\fBPXEBOOTD_LOG_LEVEL\\fR',
    '\\fBdebug\\fR logs every command with its duration',
    '.TP',
    '\\fBPXEBOOTD_LOG_FORMAT\\fR',
    '\\fBpretty\\fR or \\fBjson\\fR (default: readable text on a terminal, JSON otherwise)',
    '.SH FILES',
    '.TP',
    '\\fI/etc/pxebootd/pxebootd.yaml\\fR',
    'the config, and the templates next to it',
    '.TP',
    '\\fI/var/lib/pxebootd\\fR',
    'node records and their fsids (state_dir)',
    '.TP',
    '\\fI/run/pxebootd/control.sock\\fR',
    'the control socket',
    '.TP',
    '\\fI/usr/share/doc/pxebootd/examples/\\fR',
    'dnsmasq and tftpd\\-hpa snippets',
    '.SH SEE ALSO',
    '.BR dnsmasq (8),',
    '.BR in.tftpd (8),',
    '.BR exportfs (8),',
    '.BR exports (5),',
    '.BR systemctl (1)',
    '',
  ].join('\n');
}

if (import.meta.main) {
  const root = path.resolve(import.meta.dirname, '..');
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const date = process.argv[3] ?? new Date().toISOString().slice(0, 10);
  process.stdout.write(manPage({ usage: USAGE, commands: COMMAND_USAGE, readme: readFileSync(path.join(root, 'README.md'), 'utf8'), version: process.argv[2] ?? pkg.version, date }));
}
