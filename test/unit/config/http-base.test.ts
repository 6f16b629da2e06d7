// http_base: the URL of the stock HTTP server that serves tftp_root, as {{http_base}} in boot
// files (kernel and initrd over HTTP from iPXE or GRUB). Validated as a URL; a template that uses
// {{http_base}} without it set is a located check problem, never an empty string in a boot file.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../../src/config/index.ts';
import { formatProblem } from '../../../src/errors.ts';
import { checkHttpBase } from '../../../src/config/formats.ts';
import { renderTemplate } from '../../../src/template.ts';
import { templateValues } from '../../../provisioners/boot-files.ts';
import { BASE_DIRS, BASE_FILES, BASE_YAML, memProbe } from './mem-probe.ts';
import { makeNode, makeRule } from '../provisioners/fixtures.ts';

const F = '/etc/pxebootd/c.yaml';
const IPXE = '#!ipxe\nkernel {{http_base}}/vmlinuz initrd=initrd.img nfsroot={{server}}:{{nfs_path}}\ninitrd {{http_base}}/initrd.img\nboot\n';
const files = { ...BASE_FILES, '/tpl/ipxe': IPXE, '/tpl/default': 'SAY {{server}} {{http_base}}\n' };
const check = (top: string) => validateConfigText(`${top}${BASE_YAML}    ipxe_template: /tpl/ipxe\n`, F, memProbe(files, BASE_DIRS));

describe('http_base', () => {
  test('URLs: http(s), host or IPv4, optional port and path; no trailing slash, query, quotes or spaces', () => {
    for (const ok of ['http://10.0.0.1', 'https://boot.example', 'http://boot.example:8080/tftp', 'http://[fd00::1]/srv/tftp']) assert.equal(checkHttpBase(ok), undefined, ok);
    for (const bad of ['10.0.0.1', 'http://10.0.0.1/', 'ftp://10.0.0.1', 'http://10.0.0.300', 'http://a b', 'http://x/?q=1', 'http://x/"y', 'http://x/${mac}', 'http://-bad-/']) {
      assert.match(checkHttpBase(bad) ?? '', /expected an http:\/\/ or https:\/\/ URL/, bad);
    }
  });

  test('set: the config loads it, {{http_base}} is known in rule and default templates', () => {
    const r = validateConfigText(`http_base: http://10.0.0.1\ndefault_template: /tpl/default\n${BASE_YAML}    ipxe_template: /tpl/ipxe\n`, F, memProbe(files, BASE_DIRS));
    assert.deepEqual(r.problems.map(formatProblem), []);
    assert.equal(r.config!.http_base, 'http://10.0.0.1');
  });

  test('unset: each use is a located problem that says what to set', () => {
    assert.deepEqual(check('').problems.map(formatProblem), [
      '/tpl/ipxe:2:8: subnets[0].ipxe_template: {{http_base}} has no value: set http_base to the URL of the HTTP server that serves tftp_root (e.g. http://10.0.0.1)',
      '/tpl/ipxe:3:8: subnets[0].ipxe_template: {{http_base}} has no value: set http_base to the URL of the HTTP server that serves tftp_root (e.g. http://10.0.0.1)',
    ]);
    assert.match(check('http_base: http://10.0.0.1/\n').problems.map(formatProblem).join('\n'), /http_base: expected an http:\/\/ or https:\/\/ URL/);
  });

  test('rendered: the boot file gets the URL; unset it is an error, never an empty string', () => {
    const B = '/srv';
    const rule = makeRule(B, { vars: { kernel: 'k' } });
    const out = renderTemplate(IPXE, templateValues(makeNode(48), rule, '10.0.0.1', '/n/0A630032', 'http://10.0.0.1'));
    assert.match(out, /^kernel http:\/\/10\.0\.0\.1\/vmlinuz initrd=initrd\.img nfsroot=10\.0\.0\.1:\/n\/0A630032$/m);
    assert.throws(() => renderTemplate(IPXE, templateValues(makeNode(48), rule, '10.0.0.1', '/n/0A630032')), /\{\{http_base\}\}/);
    // a rule var of that name is not clobbered when http_base is unset
    assert.equal(templateValues(makeNode(48), makeRule(B, { vars: { http_base: 'http://v' } }), 's', 'p').http_base, 'http://v');
  });
});
