import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configJsonSchemaText } from '../../../src/config/json-schema.ts';

const file = new URL('../../../etc/pxebootd.schema.json', import.meta.url);

test('etc/pxebootd.schema.json is the JSON Schema of the zod config schema (regenerate: node src/config/write-schema.ts)', () => {
  assert.equal(readFileSync(file, 'utf8'), configJsonSchemaText());
});

test('the JSON Schema is strict and knows the contract keys and defaults', () => {
  const s = JSON.parse(configJsonSchemaText()) as { additionalProperties: boolean; required: string[]; properties: Record<string, { default?: unknown; items?: unknown }> };
  assert.equal(s.additionalProperties, false);
  assert.deepEqual(s.required.sort(), ['server', 'subnets']);
  assert.equal(s.properties.state_dir!.default, '/var/lib/pxebootd');
  assert.equal(s.properties.tftp_root!.default, '/srv/tftp');
  for (const k of ['sources', 'exports', 'default_template', 'grub_dir', 'commands', 'subnets', 'hosts']) assert.ok(k in s.properties, k);
  const subnet = s.properties.subnets!.items as { required: string[]; additionalProperties: boolean };
  assert.deepEqual(subnet.required, ['cidr']);
  assert.equal(subnet.additionalProperties, false);
});
