// Regenerate etc/pxebootd.schema.json: `node src/config/write-schema.ts`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configJsonSchemaText } from './json-schema.ts';

const target = fileURLToPath(new URL('../../etc/pxebootd.schema.json', import.meta.url));
writeFileSync(target, configJsonSchemaText());
process.stdout.write(`wrote ${target}\n`);
