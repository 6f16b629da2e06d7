// Which boot files a node gets under a boot-once selection (pure): the files of the selected
// templates, under the same names as production, and the node's files of every other loader, to
// be removed, so that no loader keeps booting what the node was sent to before.
import type { BootSelection } from '../src/contracts.ts';
import type { Config, NodeRecord, ResolvedRule } from '../src/types.ts';
import { planBootFiles, type BootFileSpec } from './boot-files.ts';

/** The files to write and the files to remove for `sel`. */
export function selectionSpecs(node: NodeRecord, rule: ResolvedRule, config: Pick<Config, 'tftp_root' | 'grub_dir' | 'ipxe_dir'>, sel: BootSelection): { write: BootFileSpec[]; remove: BootFileSpec[] } {
  const t = sel.templates;
  const chosen: ResolvedRule = { ...rule, pxe_template: t.pxe_template, grub_template: t.grub_template, ipxe_template: t.ipxe_template };
  const write = planBootFiles(node, chosen, config);
  // every loader's names; the template is not read for a removal
  const all = planBootFiles(node, { ...rule, pxe_template: '-', grub_template: '-', ipxe_template: '-' }, config);
  const kept = new Set(write.map((s) => s.loader));
  return { write, remove: all.filter((s) => !kept.has(s.loader)) };
}
