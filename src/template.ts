// Boot-file templates: fuse_pxebootfs's `<NODE>` plus `{{name}}` variables. Rendering is pure.
// An unknown variable is an error (reported by `check`), never an empty string.

/** Variables every template gets from the node itself, beside the config's own `vars`. */
export const BUILTIN_VARS = ['node', 'ip', 'ip_hex', 'mac', 'mac_hyphen', 'hostname', 'server', 'nfs_path'] as const;

// anything between `{{` and `}}` on one line is a variable reference: `{{mac-hyphen}}` is an unknown
// variable (a `check` error), never literal text left in a boot file
const VAR_RE = /\{\{([^{}\n]*)\}\}/g;

export interface TemplateVarUse {
  name: string;
  /** 1-based line and column of the `{{` in the template text */
  line: number;
  col: number;
}

/** Every `{{var}}` a template uses, with its position (for FILE:LINE:COL errors). */
export function templateVariables(text: string): TemplateVarUse[] {
  const out: TemplateVarUse[] = [];
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    for (const m of l.matchAll(VAR_RE)) out.push({ name: m[1]!.trim(), line: i + 1, col: (m.index ?? 0) + 1 });
  });
  return out;
}

/** The known name a misspelt one most likely meant (`mac-hyphen` -> `mac_hyphen`, `IP` -> `ip`). */
export function suggestVariable(name: string, known: Iterable<string>): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  const want = norm(name);
  for (const k of known) if (norm(k) === want) return k;
  return undefined;
}

/** Uses of variables that are neither built in nor in `vars`. */
export function unknownVariables(text: string, varNames: Iterable<string>): TemplateVarUse[] {
  const known = new Set<string>([...BUILTIN_VARS, ...varNames]);
  return templateVariables(text).filter((u) => !known.has(u.name));
}

/** A template that cannot render (unknown variable, bad syntax), told apart from I/O errors. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/**
 * Render: `<NODE>` -> values.node, `{{x}}` -> values.x. A value that is undefined (e.g. the MAC of
 * a client seen only by IP) or that holds a line break is an error, so client data can never add
 * or break a line of a boot file.
 */
export function renderTemplate(text: string, values: Record<string, string | undefined>): string {
  const check = (name: string): string => {
    if (!Object.prototype.hasOwnProperty.call(values, name)) throw new TemplateError(`unknown template variable {{${name}}}`);
    const v = values[name];
    if (v === undefined) throw new TemplateError(`template variable {{${name}}} has no value for this node`);
    if (/[\r\n\0]/.test(v)) throw new TemplateError(`template variable {{${name}}} holds a line break or NUL`);
    return v;
  };
  return text.replace(/<NODE>/g, () => check('node')).replace(VAR_RE, (_m, name: string) => check(name.trim()));
}
