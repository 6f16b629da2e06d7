import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountinfo, scanMountinfo, unescapeMountinfo } from '../../../provisioners/mountinfo.ts';
import { hostileString, xorshift } from './prng.ts';

// captured on this machine (kernel 6.18): a root mount and an overlay with a space in its mount point
const REAL = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
45 27 0:39 / /tmp/pxd-probe-rroD/m\\040x rw,relatime - overlay overlay rw,lowerdir=/tmp/pxd-probe-rroD/l,upperdir=/tmp/pxd-probe-rroD/u,workdir=/tmp/pxd-probe-rroD/w,index=on,uuid=on,nfs_export=on
46 27 0:40 / /srv/node/0A630032 rw,relatime shared:5 master:1 - overlay overlay rw,lowerdir=/srv/root,upperdir=/srv/ov/0A630032/upper,workdir=/srv/ov/0A630032/work,uuid=on
`;

describe('parseMountinfo', () => {
  test('reads mount point, fstype, source and super options; unescapes \\040', () => {
    const m = parseMountinfo(REAL);
    const e = m.get('/tmp/pxd-probe-rroD/m x');
    assert.ok(e);
    assert.equal(e.fstype, 'overlay');
    assert.equal(e.source, 'overlay');
    assert.equal(e.mountOptions, 'rw,relatime');
    assert.equal(e.superOptions.get('lowerdir'), '/tmp/pxd-probe-rroD/l');
    assert.equal(e.superOptions.get('nfs_export'), 'on');
    assert.equal(e.superOptions.get('index'), 'on');
    assert.equal(m.get('/')?.fstype, 'ext4');
  });

  test('optional fields (shared:, master:) do not shift the fields after " - "', () => {
    const e = parseMountinfo(REAL).get('/srv/node/0A630032');
    assert.equal(e?.fstype, 'overlay');
    assert.equal(e?.mountOptions, 'rw,relatime');
    assert.equal(e?.superOptions.get('upperdir'), '/srv/ov/0A630032/upper');
    assert.equal(e?.superOptions.has('nfs_export'), false);
  });

  test('`under` keeps only mount points at or below the given dirs (not /srv/nodeX)', () => {
    const text = REAL + '47 27 0:41 / /srv/nodeX rw - tmpfs t rw\n48 27 0:42 / /srv/node rw - tmpfs t rw\n';
    const m = parseMountinfo(text, ['/srv/node']);
    assert.deepEqual([...m.keys()].sort(), ['/srv/node', '/srv/node/0A630032']);
  });

  test('a later (stacked) mount at the same point wins', () => {
    const text = '1 0 0:1 / /a rw - tmpfs t rw\n2 1 0:2 / /a rw - overlay overlay rw,index=on\n';
    assert.equal(parseMountinfo(text).get('/a')?.fstype, 'overlay');
  });

  test('escaped comma and equals in option values', () => {
    assert.equal(unescapeMountinfo('/a\\054b\\075c\\134d'), '/a,b=c\\d');
    const m = parseMountinfo('1 0 0:1 / /m rw - overlay overlay rw,lowerdir=/l\\054x,upperdir=/u\n');
    assert.equal(m.get('/m')?.superOptions.get('lowerdir'), '/l,x');
  });

  test('malformed lines are skipped', () => {
    const m = parseMountinfo('garbage\n1 2 3\n1 0 0:1 / /ok rw - tmpfs t rw\n1 0 0:1 / /nosep rw tmpfs t rw\n\n');
    assert.deepEqual([...m.keys()], ['/ok']);
  });

  test('3,000 overlay lines parse to 3,000 entries (boot-storm size table)', () => {
    let text = '';
    for (let i = 0; i < 3000; i++) text += `${100 + i} 27 0:${50 + i} / /srv/node/N${i} rw,relatime - overlay overlay rw,lowerdir=/r,upperdir=/o/N${i}/upper,workdir=/o/N${i}/work,index=on,nfs_export=on\n`;
    const m = parseMountinfo(text, ['/srv/node']);
    assert.equal(m.size, 3000);
    assert.equal(m.get('/srv/node/N2999')?.superOptions.get('upperdir'), '/o/N2999/upper');
  });

  test('fuzz: 100,000 hostile inputs never throw', () => {
    const rnd = xorshift(0x5eed1);
    let parsed = 0;
    for (let i = 0; i < 100_000; i++) {
      const line = rnd() < 0.5 ? hostileString(rnd, 120) : `1 0 0:1 / ${hostileString(rnd, 20)} rw - ${hostileString(rnd, 30)}`;
      parsed += parseMountinfo(line, rnd() < 0.5 ? ['/srv'] : undefined).size;
    }
    assert.ok(parsed > 0, 'some generated lines parse');
  });
});

describe('scanMountinfo', () => {
  test('unpacks only the lines whose unescaped mount point is kept; same entries as parseMountinfo', () => {
    const buf = Buffer.from(REAL);
    const m = scanMountinfo(buf, (mp) => mp === '/tmp/pxd-probe-rroD/m x' || mp === '/nowhere');
    assert.deepEqual([...m.keys()], ['/tmp/pxd-probe-rroD/m x']);
    assert.deepEqual(m.get('/tmp/pxd-probe-rroD/m x'), parseMountinfo(REAL).get('/tmp/pxd-probe-rroD/m x'));
    assert.deepEqual(scanMountinfo(buf, () => true), parseMountinfo(REAL));
    assert.equal(scanMountinfo(buf, () => false).size, 0);
  });

  test('the topmost of two mounts at one point wins; a last line without newline is read', () => {
    const text = '1 0 0:1 / /n/A rw - tmpfs t rw\n2 1 0:2 / /n/A rw - overlay overlay rw,nfs_export=on';
    const e = scanMountinfo(Buffer.from(text), () => true).get('/n/A');
    assert.equal(e?.fstype, 'overlay');
    assert.equal(e?.superOptions.get('nfs_export'), 'on');
  });

  test('fuzz: 100,000 hostile inputs never throw and agree with parseMountinfo', () => {
    const rnd = xorshift(0x5eed2);
    let parsed = 0;
    for (let i = 0; i < 100_000; i++) {
      const line = rnd() < 0.5 ? hostileString(rnd, 120) : `1 0 0:1 / ${hostileString(rnd, 20)} rw - ${hostileString(rnd, 30)}`;
      const got = scanMountinfo(Buffer.from(line), () => true);
      const want = parseMountinfo(Buffer.from(line).toString('utf8'));
      assert.deepEqual([...got.keys()], [...want.keys()]);
      parsed += got.size;
    }
    assert.ok(parsed > 0, 'some generated lines parse');
  });
});
