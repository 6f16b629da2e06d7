// `pxebootd import-legacy <pxebootfs.cfg> [--cidr C] [--server IP]`: print a pxebootd.yaml converted from a
// fuse_pxebootfs config, with anything that could not be carried over reported on stderr.
import path from 'node:path';
import { statSync } from 'node:fs';
import { convertLegacyConfig, type LegacyOptions } from '../config/index.ts';
import { formatProblem } from '../errors.ts';
import { parseCommand } from './args.ts';
import { USAGE } from './usage.ts';
import { readRegular, READ_LIMITS } from '../safe-open.ts';

/** The syslog file the converted config reads tftpd-hpa's lines from, when rsyslog writes one. */
const SYSLOG = '/var/log/syslog';
const isFile = (p: string) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/** `pxebootd import-legacy`: exit 2, printing no YAML, when the old config cannot be converted. */
export async function importLegacyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('import-legacy', args, { cidr: { type: 'string' }, server: { type: 'string' } }, { min: 1, max: 1, names: '<pxebootfs.cfg>' });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const file = path.resolve(positionals[0]!);
  const text = (await readRegular(file, READ_LIMITS.configBytes, 'a config file')).toString('utf8');
  // fuse_pxebootfs had no `server` key: without --server the YAML says so and `check` flags it
  const opts: LegacyOptions = {};
  if (values.cidr !== undefined) opts.cidr = values.cidr as string;
  if (values.server !== undefined) opts.server = values.server as string;
  if (isFile(SYSLOG)) opts.syslogPath = SYSLOG;
  const r = convertLegacyConfig(text, file, opts);
  for (const p of r.problems) process.stderr.write(formatProblem(p) + '\n');
  if (r.fatal) {
    process.stderr.write(`pxebootd import-legacy: ${file} was not converted (see above)\n`);
    return 2;
  }
  process.stdout.write(r.yaml);
  return 0;
}
