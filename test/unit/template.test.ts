import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_VARS, renderTemplate, suggestVariable, templateVariables, TemplateError, unknownVariables } from '../../src/template.ts';

const NODE_VALUES = {
  node: '0A000005', ip: '10.0.0.5', ip_hex: '0A000005', mac: '52:54:00:12:34:56', mac_hyphen: '52-54-00-12-34-56',
  hostname: 'bench-1', server: '10.0.0.1', nfs_path: '/netboot/node/0A000005',
};

describe('renderTemplate', () => {
  test('fuse_pxebootfs <NODE> is the node name, everywhere on a line', () => {
    assert.equal(
      renderTemplate('APPEND nfsroot=10.0.0.1:/netboot/node/<NODE>,vers=3 hostname=n<NODE>\n', NODE_VALUES),
      'APPEND nfsroot=10.0.0.1:/netboot/node/0A000005,vers=3 hostname=n0A000005\n',
    );
  });

  test('{{var}} with optional inner spaces; built-ins and vars', () => {
    const out = renderTemplate('{{server}}:{{ nfs_path }} {{kernel}} {{mac_hyphen}} {{ip_hex}} {{hostname}}', { ...NODE_VALUES, kernel: 'vmlinuz' });
    assert.equal(out, '10.0.0.1:/netboot/node/0A000005 vmlinuz 52-54-00-12-34-56 0A000005 bench-1');
  });

  test('text that only looks like a variable is left alone; anything in {{ }} is not', () => {
    const t = '{x} <node> ${mac} { {ip} } {{ip}';
    assert.equal(renderTemplate(t, NODE_VALUES), t);
    for (const bad of ['{{ 9x }}', '{{a-b}}', '{{}}']) assert.throws(() => renderTemplate(bad, NODE_VALUES), TemplateError);
  });

  test('an unknown variable is an error, never an empty string', () => {
    assert.throws(() => renderTemplate('x {{kernal}}', NODE_VALUES), (e: unknown) => e instanceof TemplateError && e.message === 'unknown template variable {{kernal}}');
    assert.throws(() => renderTemplate('<NODE>', { ip: '1.2.3.4' }), /unknown template variable \{\{node\}\}/);
  });

  test('a variable without a value for this node is an error', () => {
    assert.throws(() => renderTemplate('{{hostname}}', { ...NODE_VALUES, hostname: undefined }), /\{\{hostname\}\} has no value for this node/);
  });

  test('values with line breaks or NUL cannot add lines to a boot file', () => {
    for (const v of ['a\nAPPEND init=/bin/sh', 'a\rb', 'a\0b']) {
      assert.throws(() => renderTemplate('APPEND x={{x}}', { x: v }), /holds a line break or NUL/);
    }
  });

  test('substituted values are not expanded again', () => {
    assert.equal(renderTemplate('{{a}} {{b}}', { a: '{{b}}', b: '<NODE>' }), '{{b}} <NODE>');
  });

  test('only own properties count as variables', () => {
    assert.throws(() => renderTemplate('{{constructor}}', {}), /unknown template variable \{\{constructor\}\}/);
    assert.throws(() => renderTemplate('{{toString}}', NODE_VALUES), /unknown template variable/);
  });
});

describe('templateVariables / unknownVariables', () => {
  test('positions are 1-based line and column of "{{"', () => {
    assert.deepEqual(templateVariables('a {{x}}\n\n  {{ y }}{{z}}\n'), [
      { name: 'x', line: 1, col: 3 },
      { name: 'y', line: 3, col: 3 },
      { name: 'z', line: 3, col: 10 },
    ]);
  });

  test('built-ins and the given names are known', () => {
    const text = BUILTIN_VARS.map((v) => `{{${v}}}`).join(' ') + ' {{kernel}} {{nope}}\n{{nope}}';
    assert.deepEqual(unknownVariables(text, ['kernel']), [
      { name: 'nope', line: 1, col: text.indexOf('{{nope}}') + 1 },
      { name: 'nope', line: 2, col: 1 },
    ]);
    assert.deepEqual(unknownVariables('{{kernel}}', new Set(['kernel'])), []);
  });
});

describe('anything in {{ }} is a variable reference', () => {
  test('{{mac-hyphen}} is an unknown variable, not literal text', () => {
    assert.deepEqual(unknownVariables('APPEND x={{mac-hyphen}}\n', []), [{ name: 'mac-hyphen', line: 1, col: 10 }]);
    assert.deepEqual(unknownVariables('{{ }} {{a.b}} {{$x}}', []).map((u) => u.name), ['', 'a.b', '$x']);
    assert.throws(() => renderTemplate('x={{mac-hyphen}}', NODE_VALUES), /unknown template variable \{\{mac-hyphen\}\}/);
  });
  test('the likely meant variable is suggested', () => {
    assert.equal(suggestVariable('mac-hyphen', BUILTIN_VARS), 'mac_hyphen');
    assert.equal(suggestVariable('IP_HEX', BUILTIN_VARS), 'ip_hex');
    assert.equal(suggestVariable('rootdev', BUILTIN_VARS), undefined);
  });
});
