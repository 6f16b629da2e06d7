import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../../src/config/index.ts';
import { formatProblem } from '../../../src/errors.ts';
import { BASE_DIRS, BASE_FILES, BASE_YAML, baseProbe, memProbe } from './mem-probe.ts';

const F = '/etc/pxebootd/c.yaml';
const lines = (text: string, probe = baseProbe()) => validateConfigText(text, F, probe).problems.map(formatProblem);
const T = 'pxe_template: /tpl/pxe.tmpl, vars: { kernel: k }';
const RULE = 'root_dir: /img/root, node_dir: /n, overlay_dir: /o, pxe_template: /tpl/pxe.tmpl, vars: { kernel: k }';

describe('cross-field rules', () => {
  test('identical CIDRs are an error (no winner); nested ones are fine', () => {
    assert.deepEqual(lines(`server: 10.0.0.1
subnets:
  - { cidr: 10.0.0.0/16, ${RULE} }
  - { cidr: 10.0.0.0/24, ${RULE} }
  - { cidr: 10.0.0.0/16, ignore: true }
`), [
      `${F}:5:13: subnets[2].cidr: 10.0.0.0/16 is also subnets[0] (${F}:3:5): with equal prefixes neither rule would win; merge them (nested networks are fine: the longest prefix wins)`,
    ]);
  });

  test('a subnet that is not ignored needs dirs and a template', () => {
    assert.deepEqual(lines('server: 10.0.0.1\nsubnets:\n  - { cidr: 10.0.0.0/24, root_dir: /img/root, grub_template: /tpl/pxe.tmpl, vars: { kernel: k } }\n'), [
      `${F}:3:5: subnets[0]: missing node_dir, overlay_dir: every rule that is not "ignore: true" needs root_dir (or image), node_dir, overlay_dir and a boot template`,
    ]);
    assert.deepEqual(lines('server: 10.0.0.1\nsubnets:\n  - { cidr: 10.0.0.0/24, root_dir: /img/root, node_dir: /n, overlay_dir: /o }\n'), [
      `${F}:3:5: subnets[0]: missing a boot template (pxe_template, grub_template or ipxe_template): every rule that is not "ignore: true" needs root_dir (or image), node_dir, overlay_dir and a boot template`,
    ]);
  });

  test('a host that lifts "ignore" of its subnet must bring the missing fields', () => {
    const yaml = (host: string) => `server: 10.0.0.1\nsubnets:\n  - { cidr: 10.0.9.0/24, ignore: true }\nhosts:\n  - ${host}\n`;
    assert.deepEqual(lines(yaml('{ ip: 10.0.9.7, ignore: false, root_dir: /img/root }')), [
      `${F}:5:5: hosts[0]: missing node_dir, overlay_dir, a boot template (pxe_template, grub_template or ipxe_template): every rule that is not "ignore: true" needs root_dir (or image), node_dir, overlay_dir and a boot template (this host lifts "ignore" of subnet 10.0.9.0/24)`,
    ]);
    assert.deepEqual(lines(yaml(`{ ip: 10.0.9.7, ignore: false, ${RULE} }`)), []);
    // a host without ignore: false stays ignored and needs nothing
    assert.deepEqual(lines(yaml('{ ip: 10.0.9.7 }')), []);
  });

  test('duplicate host keys (after normalisation) name the first rule', () => {
    assert.deepEqual(lines(`${BASE_YAML}hosts:
  - { mac: "52:54:00:AA:BB:CC", ip: 10.0.0.5, hostname: Bench }
  - { mac: 52-54-00-aa-bb-cc }
  - { ip: 10.0.0.5 }
  - { hostname: bench }
  - { overlay: ephemeral }
`), [
      `${F}:11:12: hosts[1].mac: duplicate host mac 52:54:00:aa:bb:cc: hosts[0] (${F}:10:5) already matches it`,
      `${F}:12:11: hosts[2].ip: duplicate host ip 10.0.0.5: hosts[0] (${F}:10:5) already matches it`,
      `${F}:13:17: hosts[3].hostname: duplicate host hostname bench: hosts[0] (${F}:10:5) already matches it`,
      `${F}:14:5: hosts[4]: a host rule needs at least one of mac, ip, hostname to match clients by`,
    ]);
  });

  test('a host ip outside every subnet can never apply', () => {
    assert.deepEqual(lines(`${BASE_YAML}hosts:\n  - { ip: 192.168.1.5, root_dir: /img/root }\n`), [
      `${F}:10:11: hosts[0].ip: 192.168.1.5 is in no subnet, so this rule can never apply: add a subnet that contains it`,
    ]);
  });

  test('vars: built-in names and line breaks are refused', () => {
    assert.deepEqual(lines(BASE_YAML.replace('vars: { kernel: vmlinuz }', 'vars: { kernel: vmlinuz, nfs_path: /x, "bad-name": 1, extra: "a\\nAPPEND evil" }')), [
      `${F}:8:30: subnets[0].vars.nfs_path: "nfs_path" is a built-in template variable ({{nfs_path}}) and cannot be set in vars`,
      `${F}:8:44: subnets[0].vars.bad-name: bad key "bad-name": expected a variable name of letters, digits and "_" (usable as {{name}}), found "bad-name"`,
      `${F}:8:66: subnets[0].vars.extra: expected a value without line breaks or NUL: it is pasted into boot-file lines`,
    ]);
  });

  test('exports: options, ganesha pid_file and fsid range, pseudo_root only for ganesha', () => {
    const ex = (e: string) => lines(`${BASE_YAML}exports: ${e}\n`);
    assert.deepEqual(ex('{ options: "rw,fsid=7" }'), [`${F}:9:21: exports.options: fsid= must not be set here: pxebootd gives each node its own stable fsid`]);
    assert.deepEqual(ex('{ options: "rw no_root_squash" }'), [`${F}:9:21: exports.options: expected options without whitespace, parentheses, quotes or "#", found "rw no_root_squash"`]);
    assert.deepEqual(ex('{ options: "rw)(x" }'), [`${F}:9:21: exports.options: expected options without whitespace, parentheses, quotes or "#", found "rw)(x"`]);
    assert.deepEqual(ex('{ options: "rw,,sync" }'), [`${F}:9:21: exports.options: expected no empty item between commas, found "rw,,sync"`]);
    assert.deepEqual(ex('{ backend: ganesha, start_fsid: 70000 }'), [
      `${F}:9:10: exports.pid_file: missing required key "pid_file": backend ganesha is reloaded with SIGHUP to the pid in this file`,
      `${F}:9:42: exports.start_fsid: expected start_fsid <= 65535 with backend ganesha (Export_Id is 16 bits), found 70000`,
    ]);
    assert.deepEqual(ex('{ backend: ganesha, pid_file: /run/g.pid, start_fsid: 65535 }'), []);
    assert.deepEqual(ex('{ pseudo_root: /nodes }'), [`${F}:9:25: exports.pseudo_root: pseudo_root applies only to backend ganesha; the kernel backend exports node_dir/<NODE> as is`]);
    assert.deepEqual(ex('{ backend: nfs }'), [`${F}:9:21: exports.backend: expected one of "kernel" | "ganesha", found "nfs"`]);
  });

  test('control_socket longer than a unix socket path can be', () => {
    const long = `/run/${'x'.repeat(110)}/s`;
    assert.deepEqual(lines(`${BASE_YAML}control_socket: ${long}\n`), [
      `${F}:9:17: control_socket: expected a socket path of at most 107 bytes (the sun_path limit), found ${long.length}: ${long}`,
    ]);
  });

  test('layout: node_dir/overlay_dir inside root_dir, or node_dir == overlay_dir, are refused', () => {
    const probe = memProbe(BASE_FILES, [...BASE_DIRS, '/srv/img']);
    assert.deepEqual(lines(`server: 10.0.0.1
subnets:
  - { cidr: 10.0.0.0/24, root_dir: /srv/img, node_dir: /srv/img/nodes, overlay_dir: /srv/ov, ${T} }
  - { cidr: 10.1.0.0/24, root_dir: /srv/img, node_dir: /srv/n, overlay_dir: /srv/n/, ${T} }
  - { cidr: 10.2.0.0/24, root_dir: /srv/img, node_dir: /srv/imgx, overlay_dir: /srv/ov, ${T} }
  - { cidr: 10.3.0.0/24, ignore: true }
hosts:
  - { ip: 10.2.0.9, overlay_dir: /srv/img/ov }
  - { ip: 10.3.0.9, ignore: false, root_dir: /srv/img, node_dir: /srv/img, overlay_dir: /o, ${T} }
`, probe), [
      `${F}:3:56: subnets[0].node_dir: node_dir /srv/img/nodes is inside root_dir /srv/img: overlayfs refuses overlapping layers; put it outside the shared image`,
      `${F}:4:77: subnets[1].overlay_dir: overlay_dir and node_dir are both /srv/n: each node would be mounted over its own upper/work layers; use two directories`,
      `${F}:8:34: hosts[0].overlay_dir: overlay_dir /srv/img/ov is inside root_dir /srv/img: overlayfs refuses overlapping layers; put it outside the shared image`,
      `${F}:9:66: hosts[1].node_dir: node_dir /srv/img is inside root_dir /srv/img: overlayfs refuses overlapping layers; put it outside the shared image`,
    ]);
  });

  test('queue: retry_max_ms below retry_base_ms', () => {
    assert.deepEqual(lines(`${BASE_YAML}queue: { retry_base_ms: 1000, retry_max_ms: 10 }\n`), [
      `${F}:9:45: queue.retry_max_ms: expected retry_max_ms >= retry_base_ms (1000), found 10`,
    ]);
  });
});

describe('paths and templates', () => {
  test('root_dir must exist and be a directory; created dirs must be dirs when present', () => {
    const probe = memProbe({ ...BASE_FILES, '/netboot/node': 'a file' }, ['/img/root']);
    assert.deepEqual(lines(`${BASE_YAML}  - { cidr: 10.1.0.0/24, root_dir: /img/missing, node_dir: /n, overlay_dir: /o, pxe_template: /tpl/pxe.tmpl, vars: { kernel: k } }
  - { cidr: 10.2.0.0/24, root_dir: /tpl/pxe.tmpl, node_dir: /n, overlay_dir: /o, pxe_template: /tpl/pxe.tmpl, vars: { kernel: k } }
tftp_root: /tpl/pxe.tmpl
`, probe), [
      `${F}:5:15: subnets[0].node_dir: expected node_dir to be a directory, found a regular file at /netboot/node`,
      `${F}:9:36: subnets[1].root_dir: root_dir not found: /img/missing (the shared lower layer must exist before nodes boot)`,
      `${F}:10:36: subnets[2].root_dir: expected root_dir to be a directory, found a regular file at /tpl/pxe.tmpl`,
      `${F}:11:12: tftp_root: expected tftp_root to be a directory, found a regular file at /tpl/pxe.tmpl`,
    ]);
  });

  test('templates must exist and be files', () => {
    const probe = memProbe(BASE_FILES, [...BASE_DIRS, '/tpl']);
    assert.deepEqual(lines(BASE_YAML.replace('    pxe_template: /tpl/pxe.tmpl\n', '    pxe_template: /tpl/nope\n    grub_template: /tpl\n'), probe), [
      `${F}:7:19: subnets[0].pxe_template: template not found: /tpl/nope`,
      `${F}:8:20: subnets[0].grub_template: expected a template file, found a dir at /tpl`,
    ]);
  });

  test('unknown variables point into the template; subnet and host vars count as known', () => {
    const files = {
      ...BASE_FILES,
      '/tpl/a': 'LABEL x\n  KERNEL {{kernel}}\n  APPEND {{ console }} {{initrd}}\n',
      '/tpl/host': '{{kernel}} {{extra}} {{nope}}\n',
    };
    const text = `server: 10.0.0.1
subnets:
  - { cidr: 10.0.0.0/24, root_dir: /img/root, node_dir: /n, overlay_dir: /o, pxe_template: /tpl/a, vars: { kernel: k, console: ttyS0 } }
hosts:
  - { ip: 10.0.0.9, vars: { initrd: i } }
  - { mac: "52:54:00:00:00:01", ipxe_template: /tpl/host, vars: { extra: x } }
`;
    const out = lines(text, memProbe(files, BASE_DIRS));
    assert.deepEqual(out, [
      `/tpl/a:3:24: subnets[0].pxe_template: unknown template variable {{initrd}} (subnet 10.0.0.0/24; known: node, ip, ip_hex, mac, mac_hyphen, hostname, server, nfs_path, kernel, console)`,
      `/tpl/host:1:22: hosts[1].ipxe_template: unknown template variable {{nope}} (hosts[1] in subnet 10.0.0.0/24; known: node, ip, ip_hex, mac, mac_hyphen, hostname, server, nfs_path, kernel, console, extra)`,
    ]);
  });

  test('default_template knows only {{server}} and has no <NODE>', () => {
    const files = { ...BASE_FILES, '/tpl/default': 'SAY {{server}}\nLABEL retry\n  KERNEL pxelinux.0 {{ip}}\n# <NODE>\n' };
    assert.deepEqual(lines(`${BASE_YAML}default_template: /tpl/default\n`, memProbe(files, BASE_DIRS)), [
      `/tpl/default:3:21: default_template: unknown template variable {{ip}} (default_template serves clients that are not ready yet; known: server)`,
      `/tpl/default:4:3: default_template: <NODE> has no value in the default template: it serves clients that are not ready yet`,
    ]);
  });

  test('each template is read once however many rules use it', () => {
    const probe = baseProbe();
    const r = validateConfigText(`${BASE_YAML}  - { cidr: 10.1.0.0/24, ${RULE} }\nhosts:\n  - { hostname: a, vars: { x: y } }\n`, F, probe);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(probe.reads, ['/tpl/pxe.tmpl']);
  });
});
