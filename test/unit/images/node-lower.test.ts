// The daemon's half of images, pure parts: config rules for `image:`, the resolved rule, which
// version a provision mounts (planImageStep), the record fields and status's next_image_version.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../../src/config/index.ts';
import { formatProblem } from '../../../src/errors.ts';
import { matchClient } from '../../../src/rules.ts';
import { imageRule, planImageStep, recordedVersion } from '../../../src/images/node-lower.ts';
import { ruleKeyOf } from '../../../src/daemon/records.ts';
import { withNextImage } from '../../../src/status-doc.ts';
import { BASE_DIRS, BASE_FILES, memProbe } from '../config/mem-probe.ts';

const F = '/etc/pxebootd/c.yaml';
const V1 = '20260101T000000.000Z-aaaaaa';
const V2 = '20260102T000000.000Z-bbbbbb';
const probe = (dirs: string[] = []) => memProbe(BASE_FILES, [...BASE_DIRS, ...dirs]);
const RULE = 'node_dir: /n, overlay_dir: /o, pxe_template: /tpl/pxe.tmpl, vars: { kernel: k }';
const check = (text: string, dirs: string[] = ['/imgs/base/current']) => validateConfigText(`server: 10.0.0.1\nimages_dir: /imgs\n${text}`, F, probe(dirs));

describe('image rules in the config', () => {
  test('image stands in for root_dir, with on_image_change', () => {
    const r = check(`subnets:\n  - { cidr: 10.0.0.0/24, image: base, on_image_change: fresh, ${RULE} }\n`);
    assert.deepEqual(r.problems.map(formatProblem), []);
    const m = matchClient({ ip: '10.0.0.5' }, r.config!);
    assert.equal(m.kind, 'match');
    if (m.kind !== 'match') return;
    assert.equal(m.rule.image, 'base');
    assert.equal(m.rule.on_image_change, 'fresh');
    assert.equal(m.rule.root_dir, '/imgs/base/current');
  });

  test('root_dir and image together, an image without a current version, a bad name, on_image_change without image', () => {
    const both = check(`subnets:\n  - { cidr: 10.0.0.0/24, root_dir: /img/root, image: base, ${RULE} }\n`);
    assert.match(both.problems.map(formatProblem).join('\n'), /subnets\[0\]\.image: expected root_dir or image, found both/);
    const none = check(`subnets:\n  - { cidr: 10.0.0.0/24, image: base, ${RULE} }\n`, []);
    assert.deepEqual(none.problems.map(formatProblem), [
      `${F}:4:33: subnets[0].image: image base has no current version in /imgs (add one first: pxebootd image add base SOURCE; nodes cannot boot on it until then)`,
    ]);
    const bad = check(`subnets:\n  - { cidr: 10.0.0.0/24, image: ../x, ${RULE} }\n`);
    assert.match(bad.problems.map(formatProblem).join('\n'), /subnets\[0\]\.image: image name "\.\.\/x" has characters outside/);
    const stray = check(`subnets:\n  - { cidr: 10.0.0.0/24, root_dir: /img/root, on_image_change: stay, ${RULE} }\n`);
    assert.match(stray.problems.map(formatProblem).join('\n'), /on_image_change applies only to a rule with image/);
  });

  test("a host's image replaces its subnet's root_dir, and a host's root_dir its subnet's image", () => {
    const r = check(`subnets:\n  - { cidr: 10.0.0.0/24, root_dir: /img/root, ${RULE} }\n  - { cidr: 10.0.1.0/24, image: base, ${RULE} }\nhosts:\n  - { ip: 10.0.0.7, image: base }\n  - { ip: 10.0.1.7, root_dir: /img/other }\n`);
    assert.deepEqual(r.problems.map(formatProblem), []);
    const a = matchClient({ ip: '10.0.0.7' }, r.config!);
    const b = matchClient({ ip: '10.0.1.7' }, r.config!);
    assert.ok(a.kind === 'match' && a.rule.image === 'base' && a.rule.root_dir === '/imgs/base/current');
    assert.ok(b.kind === 'match' && b.rule.image === undefined && b.rule.root_dir === '/img/other' && b.rule.on_image_change === undefined);
  });
});

describe('planImageStep', () => {
  const rule = (o: Partial<{ overlay: 'persistent' | 'ephemeral'; on_image_change: 'carry' | 'fresh' | 'stay' }> = {}) => ({ image: 'base', overlay: o.overlay ?? 'persistent', on_image_change: o.on_image_change });
  test('no image: nothing to do; no version recorded: the current one (an error when there is none)', () => {
    assert.deepEqual(planImageStep({ overlay: 'persistent' }, undefined, undefined, 'boot'), { kind: 'keep' });
    assert.deepEqual(planImageStep(rule(), undefined, V1, 'other'), { kind: 'first', version: V1 });
    assert.throws(() => planImageStep(rule(), undefined, undefined, 'other'), /image base has no current version/);
  });
  test('a running node is never switched: only a boot or a provision after a release moves it', () => {
    assert.deepEqual(planImageStep(rule(), V1, V2, 'other'), { kind: 'keep', version: V1 });
    assert.deepEqual(planImageStep(rule(), V1, V1, 'boot'), { kind: 'keep', version: V1 });
    assert.deepEqual(planImageStep(rule(), V1, undefined, 'boot'), { kind: 'keep', version: V1 });
    assert.deepEqual(planImageStep(rule(), V1, V2, 'boot'), { kind: 'switch', from: V1, to: V2, how: 'carry' });
    assert.deepEqual(planImageStep(rule({ on_image_change: 'fresh' }), V1, V2, 'boot'), { kind: 'switch', from: V1, to: V2, how: 'fresh' });
    assert.deepEqual(planImageStep(rule({ overlay: 'ephemeral', on_image_change: 'stay' }), V1, V2, 'boot'), { kind: 'switch', from: V1, to: V2, how: 'reset' });
  });
  test('stay keeps its version at boots, until it is released', () => {
    assert.deepEqual(planImageStep(rule({ on_image_change: 'stay' }), V1, V2, 'boot'), { kind: 'keep', version: V1 });
    assert.deepEqual(planImageStep(rule({ on_image_change: 'stay' }), V1, V2, 'after-release'), { kind: 'switch', from: V1, to: V2, how: 'carry' });
  });
});

describe('records and status', () => {
  test('the recorded version counts only for the same image; imageRule points root_dir at it; the rule key ignores it', () => {
    assert.equal(recordedVersion({ image: 'base', image_version: V1 }, { image: 'base' }), V1);
    assert.equal(recordedVersion({ image: 'other', image_version: V1 }, { image: 'base' }), undefined);
    const r = check(`subnets:\n  - { cidr: 10.0.0.0/24, image: base, ${RULE} }\n`);
    const m = matchClient({ ip: '10.0.0.5' }, r.config!);
    assert.ok(m.kind === 'match');
    const onV1 = imageRule(m.rule, '/imgs', V1);
    assert.equal(onV1.root_dir, `/imgs/base/${V1}`);
    assert.equal(ruleKeyOf(onV1), ruleKeyOf(m.rule), 'a version switch is not a rule change');
    assert.throws(() => imageRule(m.rule, '/imgs', '../etc'), /characters outside/);
  });
  test('next_image_version appears only when another version is current', () => {
    const currents = new Map([['base', V2]]);
    assert.deepEqual(withNextImage({ name: 'a', image: 'base', image_version: V1 }, currents), { name: 'a', image: 'base', image_version: V1, next_image_version: V2 });
    assert.deepEqual(withNextImage({ name: 'a', image: 'base', image_version: V2 }, currents), { name: 'a', image: 'base', image_version: V2 });
    assert.deepEqual(withNextImage({ name: 'a' } as { name: string; image?: string; image_version?: string }, currents), { name: 'a' });
  });
});
