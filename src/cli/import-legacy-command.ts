// `pxebootd import-legacy <pxebootfs.cfg> [--cidr C]`: print a pxebootd.yaml converted from a
// fuse_pxebootfs config, with anything that could not be carried over reported on stderr.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { convertLegacyConfig } from '../config/index.ts';
import { formatProblem } from '../errors.ts';
import { parseCommand } from './args.ts';
import { USAGE } from './usage.ts';

export async function importLegacyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('import-legacy', args, { cidr: { type: 'string' } }, { min: 1, max: 1, names: '<pxebootfs.cfg>' });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const file = path.resolve(positionals[0]!);
  const text = await readFile(file, 'utf8');
  const r = convertLegacyConfig(text, file, values.cidr === undefined ? {} : { cidr: values.cidr as string });
  for (const p of r.problems) process.stderr.write(formatProblem(p) + '\n');
  process.stdout.write(r.yaml);
  return r.yaml ? 0 : 1;
}
