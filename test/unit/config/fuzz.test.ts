// Fuzz the config core: random YAML-ish text and mutations of a valid config must give problems or a
// config, never a throw, and never both. Deterministic seed (xorshift32).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../../src/config/index.ts';
import { convertLegacyConfig } from '../../../src/config/legacy.ts';
import { BASE_YAML, baseProbe } from './mem-probe.ts';
import { xorshiftFloat } from '../../helpers/prng.ts';

const xorshift = xorshiftFloat;

const TOKENS = [
  'server', 'subnets', 'hosts', 'cidr', 'root_dir', 'node_dir', 'overlay_dir', 'pxe_template', 'vars', 'ignore', 'exports',
  'backend', 'ganesha', 'start_fsid', 'sources', 'type', 'syslog', 'path', 'mac', 'ip', 'hostname', 'queue', 'metrics',
  ':', ': ', '- ', '-', '[', ']', '{', '}', ',', '"', "'", '#', '&a', '*a', '!!str', '!!binary', '?', '|', '>', '%YAML 1.2', '---', '...',
  '\n', '\n  ', '\n    ', '\t', ' ', '10.0.0.0/24', '10.0.0.5/24', '10.0.0.1', '52:54:00:12:34:56', '/img/root', '/tpl/pxe.tmpl',
  'true', 'null', '~', '0', '-1', '1e999', '0x10', '65536', '{{kernel}}', '<NODE>', '\u0000', '\u00e9', '\r\n', '\\',
];

const N_RANDOM = 85_000;
const N_MUTATED = 15_000;

test(`config core never throws: ${N_RANDOM} random + ${N_MUTATED} mutated inputs`, () => {
  const rnd = xorshift(0x9e3779b9);
  const pick = <T>(a: T[]) => a[Math.floor(rnd() * a.length)]!;
  const probe = baseProbe();
  let withConfig = 0;
  let withProblems = 0;
  const run = (text: string) => {
    let r;
    try {
      r = validateConfigText(text, '/f.yaml', probe);
    } catch (e) {
      assert.fail(`threw ${(e as Error).stack} on ${JSON.stringify(text)}`);
    }
    assert.ok((r.config === undefined) !== (r.problems.length === 0), `config xor problems for ${JSON.stringify(text)}`);
    for (const p of r.problems) assert.ok(p.line >= 1 && p.col >= 1 && typeof p.message === 'string' && p.message.length > 0, JSON.stringify(p));
    if (r.config) withConfig++;
    else withProblems++;
  };
  for (let i = 0; i < N_RANDOM; i++) {
    const n = 1 + Math.floor(rnd() * 24);
    let s = '';
    for (let j = 0; j < n; j++) s += pick(TOKENS);
    run(s);
  }
  for (let i = 0; i < N_MUTATED; i++) {
    const chars = [...BASE_YAML];
    const edits = 1 + Math.floor(rnd() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * chars.length);
      const op = rnd();
      if (op < 0.33) chars.splice(at, 1);
      else if (op < 0.66) chars.splice(at, 0, pick(TOKENS));
      else chars[at] = String.fromCharCode(Math.floor(rnd() * 128));
    }
    run(chars.join(''));
  }
  // both outcomes occurred, so the generator reaches the whole pipeline
  assert.ok(withConfig > 0 && withProblems > 0, `config ${withConfig}, problems ${withProblems}`);
});

test('legacy INI converter never throws: 100000 random inputs', () => {
  const rnd = xorshift(12345);
  const parts = ['[PXEBOOTFS]', '[DEFAULT]', '[', ']', 'root_dir', 'node_dir', 'pxe_template', 'start_fsid', 'overlay_dir', 'mountpoint', '=', ':', ' ', '\n', '\n  ', ';', '#', '%(', ')s', '%%', '%(root_dir)s', '/x', '12', '-1', '"', '\r\n', '\u0000'];
  for (let i = 0; i < 100_000; i++) {
    let s = '';
    const n = 1 + Math.floor(rnd() * 20);
    for (let j = 0; j < n; j++) s += parts[Math.floor(rnd() * parts.length)];
    const r = convertLegacyConfig(s, 'p.cfg', { server: '10.0.0.1' });
    assert.equal(typeof r.yaml, 'string');
  }
});
