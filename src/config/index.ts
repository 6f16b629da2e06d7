// Public face of config loading, for the daemon and the CLI.
export { checkConfig, loadConfig, nodeFsProbe } from './load.ts';
export { validateConfigText, type CheckResult } from './validate-text.ts';
export { DEFAULT_TEMPLATE_VARS, type FsProbe } from './files-check.ts';

export { configJsonSchema } from './json-schema.ts';
export { convertLegacyConfig, parseIni, type LegacyOptions } from './legacy.ts';
