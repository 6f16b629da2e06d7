import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { addMarker, looksLikeOurName, markerNode, planBootFiles, templateValues } from '../../../provisioners/boot-files.ts';
import { makeNode, makeRule } from './fixtures.ts';
import { hostileString, xorshift } from './prng.ts';

const CFG = { tftp_root: '/srv/tftp', grub_dir: 'grub', ipxe_dir: 'ipxe' };
const B = '/b';

describe('planBootFiles', () => {
  const node = makeNode(48, { uuid: 'B8945908-D6A6-41A9-611D-74A6AB80B83D' }); // 10.99.0.50
  test('pxelinux: MAC file canonical, hex-IP and UUID links', () => {
    const [p] = planBootFiles(node, makeRule(B), CFG);
    assert.deepEqual(p, {
      loader: 'pxelinux',
      template: '/b/templates/pxelinux.cfg.template',
      canonical: '/srv/tftp/pxelinux.cfg/01-52-54-00-00-00-32',
      links: ['/srv/tftp/pxelinux.cfg/0A630032', '/srv/tftp/pxelinux.cfg/b8945908-d6a6-41a9-611d-74a6ab80b83d'],
    });
  });

  test('GRUB and iPXE names', () => {
    const specs = planBootFiles(node, makeRule(B, { grub_template: '/t/grub', ipxe_template: '/t/ipxe' }), CFG);
    assert.deepEqual(specs.map((s) => s.loader), ['pxelinux', 'grub', 'ipxe']);
    assert.equal(specs[1]!.canonical, '/srv/tftp/grub/grub.cfg-01-52-54-00-00-00-32');
    assert.deepEqual(specs[1]!.links, ['/srv/tftp/grub/grub.cfg-0A630032', '/srv/tftp/grub/grub.cfg-b8945908-d6a6-41a9-611d-74a6ab80b83d']);
    assert.equal(specs[2]!.canonical, '/srv/tftp/ipxe/525400000032.ipxe');
    assert.deepEqual(specs[2]!.links, ['/srv/tftp/ipxe/0a630032.ipxe']);
  });

  test('no MAC: the hex-IP name is canonical and nothing else', () => {
    const { mac: _m, ...noMac } = makeNode(48);
    const specs = planBootFiles(noMac, makeRule(B, { grub_template: '/t/grub', ipxe_template: '/t/ipxe' }), CFG);
    assert.deepEqual(specs.map((s) => [s.canonical, s.links]), [
      ['/srv/tftp/pxelinux.cfg/0A630032', []],
      ['/srv/tftp/grub/grub.cfg-0A630032', []],
      ['/srv/tftp/ipxe/0a630032.ipxe', []],
    ]);
  });

  test('no templates: no files', () => {
    const { pxe_template: _p, ...rule } = makeRule(B);
    assert.deepEqual(planBootFiles(node, rule as never, CFG), []);
  });

  test('hostile node values are refused', () => {
    assert.throws(() => planBootFiles({ ...node, name: '../../etc' }, makeRule(B), CFG));
    assert.throws(() => planBootFiles({ ...node, ip: '10.99.0.50\n' }, makeRule(B), CFG));
    assert.throws(() => planBootFiles({ ...node, mac: '52:54:00:00:00:32/../../x' }, makeRule(B), CFG));
    assert.throws(() => planBootFiles(node, makeRule(B), { ...CFG, grub_dir: '../etc' }) && planBootFiles(node, makeRule(B, { grub_template: '/t' }), { ...CFG, grub_dir: '../etc' }));
  });
});

describe('markers', () => {
  test('first line, or second after #!ipxe', () => {
    assert.equal(addMarker('DEFAULT x\n', '0A630032', '10.99.0.50'), '# pxebootd: generated for node 0A630032 (10.99.0.50); do not edit, pxebootd rewrites it\nDEFAULT x\n');
    const ipxe = addMarker('#!ipxe\nkernel x\n', 'N1', '10.0.0.1');
    assert.equal(ipxe.split('\n')[0], '#!ipxe');
    assert.equal(markerNode(ipxe), undefined, 'N1 is not a valid node name');
    assert.equal(markerNode(addMarker('#!ipxe\nboot\n', '0A630032', '10.99.0.50')), '0A630032');
    assert.equal(markerNode('DEFAULT x\n# pxebootd: generated for node 0A630032'), '0A630032', 'line 2 counts');
    assert.equal(markerNode('DEFAULT x\nLABEL y\n# pxebootd: generated for node 0A630032'), undefined, 'line 3 does not');
  });

  test('looksLikeOurName', () => {
    for (const n of ['01-52-54-00-12-34-56', '0A630032', 'b8945908-d6a6-41a9-611d-74a6ab80b83d', 'grub.cfg-01-52-54-00-12-34-56', 'grub.cfg-0A630032', '525400123456.ipxe', '0a630032.ipxe'])
      assert.ok(looksLikeOurName(n), n);
    for (const n of ['default', '../0A630032', 'grub.cfg', '0a630032', 'x.ipxe', '/etc/passwd']) assert.ok(!looksLikeOurName(n), n);
  });
});

test('templateValues: built-ins win over vars; hostname falls back to the node name', () => {
  const v = templateValues(makeNode(48), makeRule(B, { vars: { kernel: 'k', node: 'evil' } }), '10.99.0.1', '/n/0A630032');
  assert.equal(v.node, '0A630032');
  assert.equal(v.kernel, 'k');
  assert.equal(v.hostname, '0A630032');
  assert.equal(v.mac_hyphen, '52-54-00-00-00-32');
  assert.equal(v.ip_hex, '0A630032');
  const { mac: _m, ...noMac } = makeNode(48);
  assert.equal(templateValues(noMac, makeRule(B), 's', 'p').mac, undefined);
});

test('fuzz: markerNode and looksLikeOurName on 100,000 hostile inputs never throw, never accept a path', () => {
  const rnd = xorshift(0x77);
  for (let i = 0; i < 100_000; i++) {
    const s = hostileString(rnd, 80);
    const head = rnd() < 0.3 ? `# pxebootd: generated for node ${s}` : s;
    const n = markerNode(head);
    if (n !== undefined) assert.match(n, /^[0-9A-Fa-f][0-9A-Fa-f-]{0,63}$/);
    if (looksLikeOurName(s)) assert.ok(!s.includes('/') && !s.includes('\0'));
  }
});

test('template reader: overlapping reads of one template share a read; a read after an edit sees the edit', async () => {
  const { createTemplateReader } = await import('../../../provisioners/boot-files-apply.ts');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const dir = mkdtempSync('/tmp/pxg-templates-');
  try {
    const file = `${dir}/pxelinux.cfg.template`;
    writeFileSync(file, 'KERNEL one\n');
    const read = createTemplateReader();
    const a = read(file);
    const b = read(file);
    assert.strictEqual(a, b, 'one read for both');
    writeFileSync(`${dir}/other`, 'KERNEL other\n');
    const other = read(`${dir}/other`);
    assert.notStrictEqual(other, a, 'another file is another read');
    assert.equal(await other, 'KERNEL other\n');
    assert.equal(await a, 'KERNEL one\n');
    writeFileSync(file, 'KERNEL two\n');
    const c = read(file);
    assert.notStrictEqual(c, a, 'nothing is kept after a read');
    assert.equal(await c, 'KERNEL two\n');
    await assert.rejects(read(`${dir}/missing`), { code: 'ENOENT' });
    await assert.rejects(read(`${dir}/missing`), { code: 'ENOENT' }, 'a failed read is not kept either');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
