// `pxebootd check`: validate the config and every template it names; print all problems as
// FILE:LINE:COL: message and exit non-zero when there is any.
import { checkConfig } from '../config/index.ts';
import { formatProblem } from '../errors.ts';
import { parseCommand } from './args.ts';
import { USAGE } from './usage.ts';

/** `pxebootd check`: every config problem at once, before a daemon is started or reloaded with it. */
export async function checkCommand(args: string[]): Promise<number> {
  const { values, config: file } = parseCommand('check', args, {}, { min: 0, max: 0, names: '' });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const r = await checkConfig(file);
  for (const p of r.problems) process.stderr.write(formatProblem(p) + '\n');
  if (r.problems.length || !r.config) {
    process.stderr.write(`pxebootd check: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} in ${file}\n`);
    return 1;
  }
  const c = r.config;
  process.stdout.write(`${file}: ok (${c.subnets.length} subnet${c.subnets.length === 1 ? '' : 's'}, ${c.hosts.length} host rule${c.hosts.length === 1 ? '' : 's'}, ${c.sources.length} source${c.sources.length === 1 ? '' : 's'})\n`);
  return 0;
}
