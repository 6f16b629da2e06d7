// The JSON Schema shipped as etc/pxebootd.schema.json, generated from the zod schema so that the
// two never disagree (a unit test regenerates it and compares with the committed file).
import * as z from 'zod';
import { configSchema } from './schema.ts';

/** JSON Schema (draft 2020-12) of the config file as a user writes it (defaults are optional). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** The exact text of etc/pxebootd.schema.json. */
export function configJsonSchemaText(): string {
  return JSON.stringify(configJsonSchema(), null, 2) + '\n';
}
