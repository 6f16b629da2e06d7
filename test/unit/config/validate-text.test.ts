import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../../src/config/index.ts';
import { formatProblem } from '../../../src/errors.ts';
import { BASE_DIRS, BASE_FILES, BASE_YAML, baseProbe, memProbe } from './mem-probe.ts';

const check = (text: string, probe = baseProbe(), file = '/etc/pxebootd/c.yaml') => validateConfigText(text, file, probe);
const lines = (text: string, probe = baseProbe()) => check(text, probe).problems.map(formatProblem);

describe('validateConfigText: a valid config', () => {
  test('gets every default from the contract', () => {
    const r = check(BASE_YAML);
    assert.deepEqual(r.problems, []);
    const c = r.config!;
    assert.equal(c.file, '/etc/pxebootd/c.yaml');
    assert.equal(c.state_dir, '/var/lib/pxebootd');
    assert.equal(c.tftp_root, '/srv/tftp');
    assert.deepEqual(c.exports, {
      backend: 'kernel',
      file: '/etc/exports.d/pxebootd.exports',
      options: 'rw,no_root_squash,no_subtree_check,sync',
      start_fsid: 10000,
      etab: '/var/lib/nfs/etab',
      dbus: 'auto',
    });
    assert.equal(c.grub_dir, 'grub');
    assert.equal(c.ipxe_dir, 'ipxe');
    assert.deepEqual(c.commands, { mount: 'mount', umount: 'umount', exportfs: 'exportfs', journalctl: 'journalctl', ip: 'ip', dbus_send: 'dbus-send' });
    assert.deepEqual(c.trusted_programs, ['in.tftpd', 'atftpd', 'dnsmasq-tftp', 'dnsmasq-dhcp']);
    assert.equal(c.control_socket, '/run/pxebootd/control.sock');
    assert.deepEqual(c.queue, { concurrency: 512, retry_base_ms: 500, retry_max_ms: 30000 });
    assert.equal(c.metrics, undefined);
    assert.equal(c.default_template, undefined);
    assert.deepEqual(c.sources, []);
    assert.deepEqual(c.hosts, []);
    assert.deepEqual(c.subnets, [
      {
        cidr: '10.0.0.0/24',
        root_dir: '/img/root',
        node_dir: '/netboot/node',
        overlay_dir: '/netboot/overlay',
        pxe_template: '/tpl/pxe.tmpl',
        node_name: 'ip-hex',
        overlay: 'persistent',
        on_release: 'keep',
        vars: { kernel: 'vmlinuz' },
        pos: '/etc/pxebootd/c.yaml:3:5',
      },
    ]);
  });

  test('source defaults: syslog from_start/programs, journal identifiers, dhcp-snoop port and rate limit, metrics listen', () => {
    const r = check(`${BASE_YAML}trusted_programs: [in.tftpd]
sources:
  - { type: syslog, path: log/syslog }
  - { type: syslog, path: /var/log/x, from_start: true, programs: [atftpd] }
  - { type: journal }
  - { type: journal, identifiers: [dnsmasq-dhcp], directory: /j }
  - { type: dhcp-snoop, interface: br0 }
  - { type: dnsmasq-leases, path: /var/lib/misc/dnsmasq.leases }
  - { type: kea-leases, path: kea.csv }
metrics: {}
`);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config!.sources, [
      { type: 'syslog', path: '/etc/pxebootd/log/syslog', from_start: false, programs: ['in.tftpd'], format: 'auto' },
      { type: 'syslog', path: '/var/log/x', from_start: true, programs: ['atftpd'], format: 'auto' },
      { type: 'journal', identifiers: ['in.tftpd'] },
      { type: 'journal', identifiers: ['dnsmasq-dhcp'], directory: '/j' },
      { type: 'dhcp-snoop', interface: 'br0', port: 67, new_client_burst: 100, new_clients_per_second: 10 },
      { type: 'dnsmasq-leases', path: '/var/lib/misc/dnsmasq.leases' },
      { type: 'kea-leases', path: '/etc/pxebootd/kea.csv' },
    ]);
    assert.deepEqual(r.config!.metrics, { listen: '127.0.0.1:9642' });
  });

  test('relative paths resolve against the config file directory; bare commands stay bare', () => {
    const probe = memProbe({ '/srv/cfg/t/pxe': 'x {{kernel}}', '/srv/cfg/default.t': '{{server}}' }, ['/srv/cfg/img']);
    const r = check(`server: boot.example
state_dir: st
tftp_root: ./tftp
default_template: default.t
control_socket: run/sock
exports: { file: ex/p.exports, etab: etab, backend: ganesha, pid_file: g.pid, start_fsid: 5, pseudo_root: /nodes }
commands: { mount: /sbin/mount, exportfs: bin/exportfs }
subnets:
  - { cidr: 10.0.0.0/8, root_dir: img, node_dir: node, overlay_dir: ../ov, pxe_template: t/pxe, vars: { kernel: k } }
hosts:
  - { mac: 52-54-00-AA-BB-CC, root_dir: img, hostname: Bench-07 }
`, probe, '/srv/cfg/pxebootd.yaml');
    assert.deepEqual(r.problems, []);
    const c = r.config!;
    assert.equal(c.state_dir, '/srv/cfg/st');
    assert.equal(c.tftp_root, '/srv/cfg/tftp');
    assert.equal(c.default_template, '/srv/cfg/default.t');
    assert.equal(c.control_socket, '/srv/cfg/run/sock');
    assert.deepEqual(c.exports, { backend: 'ganesha', file: '/srv/cfg/ex/p.exports', options: 'rw,no_root_squash,no_subtree_check,sync', start_fsid: 5, etab: '/srv/cfg/etab', dbus: 'auto', pid_file: '/srv/cfg/g.pid', pseudo_root: '/nodes' });
    assert.equal(c.commands.mount, '/sbin/mount');
    assert.equal(c.commands.exportfs, '/srv/cfg/bin/exportfs');
    assert.equal(c.commands.umount, 'umount');
    assert.equal(c.subnets[0]!.overlay_dir, '/srv/ov');
    assert.equal(c.subnets[0]!.pxe_template, '/srv/cfg/t/pxe');
    assert.deepEqual(c.hosts, [{ mac: '52:54:00:aa:bb:cc', hostname: 'bench-07', root_dir: '/srv/cfg/img', pos: '/srv/cfg/pxebootd.yaml:11:5' }]);
  });

  test('vars values that YAML reads as numbers or booleans become strings', () => {
    const r = check(BASE_YAML.replace('vars: { kernel: vmlinuz }', 'vars: { kernel: vmlinuz, port: 8080, debug: true }'));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config!.subnets[0]!.vars, { kernel: 'vmlinuz', port: '8080', debug: 'true' });
  });

  test('an empty section (every entry commented out) means the default', () => {
    const r = check(`${BASE_YAML.replace('vars: { kernel: vmlinuz }', 'vars:')}sources:\n  # - { type: journal }\nhosts:\nexports:\ncommands:\nqueue:\n`, memProbe({ '/tpl/pxe.tmpl': 'KERNEL vmlinuz' }, BASE_DIRS));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config!.hosts, []);
    assert.deepEqual(r.config!.sources, []);
    assert.deepEqual(r.config!.subnets[0]!.vars, {});
    assert.equal(r.config!.exports.start_fsid, 10000);
    assert.equal(r.config!.queue.concurrency, 512);
    // but an empty value where a value is required stays an error
    assert.deepEqual(lines(BASE_YAML.replace('root_dir: /img/root', 'root_dir:')), ['/etc/pxebootd/c.yaml:4:14: subnets[0].root_dir: expected a string, found nothing']);
  });

  test('an ignored subnet needs nothing but its cidr; nested CIDRs are fine', () => {
    const r = check(`${BASE_YAML}  - { cidr: 10.0.0.128/25, ignore: true }
  - { cidr: 0.0.0.0/0, ignore: true }
`);
    assert.deepEqual(r.problems, []);
    assert.equal(r.config!.subnets.length, 3);
  });
});

describe('validateConfigText: problems are located and explained', () => {
  test('acceptance: three different mistakes are all reported as FILE:LINE:COL', () => {
    const text = `server: 10.0.0.1
subnets:
  - cidr: 10.0.0.5/24
    root_dir: /img/root
    node_dir: /netboot/node
    overlay_dir: /netboot/overlay
    pxe_template: /tpl/bad.tmpl
    vars: { kernel: vmlinuz }
exprots: { start_fsid: 1 }
`;
    const probe = memProbe({ '/tpl/bad.tmpl': 'LABEL x\n  KERNEL {{kernel}}\n  APPEND root={{rootdev}}\n' }, BASE_DIRS);
    assert.deepEqual(lines(text, probe), [
      '/etc/pxebootd/c.yaml:3:11: subnets[0].cidr: host bits set in 10.0.0.5/24: expected the network address 10.0.0.0/24',
      '/etc/pxebootd/c.yaml:9:1: exprots: unknown key "exprots"; allowed keys: state_dir, images_dir, tftp_root, server, http_base, sources, exports, default_template, grub_dir, ipxe_template'.replace(
        'ipxe_template', 'ipxe_dir, commands, mount_method, trusted_programs, control_socket, queue, boot_guard_ms, metrics, profiles, report, subnets, hosts (did you mean "exports"?)'),
      '/tpl/bad.tmpl:3:15: subnets[0].pxe_template: unknown template variable {{rootdev}} (subnet 10.0.0.5/24; known: node, ip, ip_hex, mac, mac_hyphen, hostname, server, nfs_path, kernel)',
    ]);
    assert.equal(check(text, probe).config, undefined);
  });

  test('a misspelt variable such as {{mac-hyphen}} is an error with a suggestion', () => {
    const text = `server: 10.0.0.1
subnets:
  - cidr: 10.0.0.0/24
    root_dir: /img/root
    node_dir: /netboot/node
    overlay_dir: /netboot/overlay
    pxe_template: /tpl/t
`;
    const probe = memProbe({ '/tpl/t': 'LABEL x\n  APPEND BOOTIF={{mac-hyphen}}\n' }, BASE_DIRS);
    assert.deepEqual(lines(text, probe), [
      '/tpl/t:2:17: subnets[0].pxe_template: unknown template variable {{mac-hyphen}}: did you mean {{mac_hyphen}}? (subnet 10.0.0.0/24; known: node, ip, ip_hex, mac, mac_hyphen, hostname, server, nfs_path)',
    ]);
  });

  test('YAML syntax errors: the first of each top-level block with its position, and a count of what followed it', () => {
    assert.deepEqual(lines('server: 1\nserver: 2\nsubnets: [\n'), [
      '/etc/pxebootd/c.yaml:2:1: YAML: Map keys must be unique',
      '/etc/pxebootd/c.yaml:4:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    assert.deepEqual(lines('server: 10.0.0.1\nsubnets: [a\nx: : y\n'), [
      '/etc/pxebootd/c.yaml:3:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ] (1 more YAML error after it in this block, most likely caused by it: fix this one first)',
    ]);
    assert.equal(check('server: 1\nserver: 2\n').config, undefined);
  });

  test('one tab in the indentation is one problem, not a cascade', () => {
    const text = 'server: 10.0.0.1\nsubnets:\n  - cidr: 10.0.0.0/24\n\troot_dir: /r\n    node_dir: /n\n    overlay_dir: /o\n    pxe_template: /t\nhosts:\n  - { mac: 52:54:00:00:00:01, ip: 10.0.0.300 }\n';
    const got = lines(text);
    assert.equal(got.length, 1, got.join('\n'));
    assert.match(got[0]!, /^\/etc\/pxebootd\/c\.yaml:4:1: YAML: Tabs are not allowed as indentation: indent with spaces \(\d+ more YAML errors after it in this block/);
  });

  test('a `vars` of the wrong type is reported once, not again as every variable its templates use', () => {
    const text = `server: 10.0.0.1
subnets:
  - cidr: 10.0.0.0/24
    root_dir: /img/root
    node_dir: /netboot/node
    overlay_dir: /netboot/overlay
    pxe_template: /tpl/t
    vars: kernel
hosts:
  - { mac: "52:54:00:00:00:01", vars: { x: "1" } }
  - { mac: "52:54:00:00:00:02" }
`;
    const probe = memProbe({ '/tpl/t': 'KERNEL {{kernel}}\nAPPEND {{initrd}} {{console}} {{x}}\n' }, BASE_DIRS);
    assert.deepEqual(lines(text, probe), ['/etc/pxebootd/c.yaml:8:11: subnets[0].vars: expected a map, found "kernel"']);
  });

  test('empty file and non-map documents', () => {
    assert.deepEqual(lines(''), ['/etc/pxebootd/c.yaml:1:1: expected a map of settings (server, subnets, ...), found an empty document']);
    assert.deepEqual(lines('- a\n- b\n'), ['/etc/pxebootd/c.yaml:1:1: expected a map of settings (server, subnets, ...), found a list']);
    assert.deepEqual(lines('42\n'), ['/etc/pxebootd/c.yaml:1:1: expected a map of settings (server, subnets, ...), found a number']);
  });

  test('missing required keys point at the parent map', () => {
    assert.deepEqual(lines('tftp_root: /srv/tftp\n'), [
      '/etc/pxebootd/c.yaml:1:1: server: missing required key "server"',
      '/etc/pxebootd/c.yaml:1:1: subnets: missing required key "subnets"',
    ]);
    assert.deepEqual(lines('server: 10.0.0.1\nsubnets:\n  - root_dir: /img/root\n    node_dir: /n\n    overlay_dir: /o\n    pxe_template: /tpl/pxe.tmpl\n    vars: { kernel: k }\n'), [
      '/etc/pxebootd/c.yaml:3:5: subnets[0].cidr: missing required key "cidr"',
    ]);
    assert.deepEqual(lines('server: 10.0.0.1\nsubnets: []\n'), ['/etc/pxebootd/c.yaml:2:10: subnets: expected at least 1 item(s), found 0']);
  });

  test('wrong types say what was expected and what was found', () => {
    const out = lines(`server: 10.0.0.1
queue: { concurrency: "many", retry_base_ms: 1.5 }
exports: { start_fsid: 0 }
sources: { type: syslog }
subnets:
  - cidr: 10.0.0.0/24
    root_dir: [a]
    node_dir: /n
    overlay_dir: /o
    pxe_template: /tpl/pxe.tmpl
    node_name: hostname
    ignore: "no"
    vars: { kernel: [x] }
`);
    assert.deepEqual(out, [
      '/etc/pxebootd/c.yaml:2:23: queue.concurrency: expected a number, found "many"',
      '/etc/pxebootd/c.yaml:2:46: queue.retry_base_ms: expected an integer, found number 1.5',
      '/etc/pxebootd/c.yaml:3:24: exports.start_fsid: expected a number >= 1, found number 0',
      '/etc/pxebootd/c.yaml:4:10: sources: expected a list, found a map',
      '/etc/pxebootd/c.yaml:7:15: subnets[0].root_dir: expected a string, found a list',
      '/etc/pxebootd/c.yaml:11:16: subnets[0].node_name: expected one of "ip-hex" | "mac", found "hostname"',
      '/etc/pxebootd/c.yaml:12:13: subnets[0].ignore: expected true or false, found "no"',
      '/etc/pxebootd/c.yaml:13:21: subnets[0].vars.kernel: expected a string or a number or true or false, found a list',
    ]);
  });

  test('unknown keys at every level, with the allowed keys and a suggestion', () => {
    const out = lines(`${BASE_YAML}    nodename: mac
commands: { mount: /bin/mount, mkdir: mkdir }
sources:
  - { type: syslog, path: /x, program: [a] }
  - { type: dhcp-snoop, interface: eth0, iface: eth0 }
  - { type: tftp, path: /x }
  - { path: /x }
hosts:
  - { mac: "52:54:00:00:00:01", rootdir: /img/root }
queue: { concurency: 2 }
metrics: { listen: "127.0.0.1:1", port: 1 }
`);
    assert.deepEqual(out, [
      '/etc/pxebootd/c.yaml:9:5: subnets[0].nodename: unknown key "nodename"; allowed keys: cidr, root_dir, image, on_image_change, node_dir, overlay_dir, node_name, pxe_template, grub_template, ipxe_template, overlay, on_release, vars, ignore, first_boot (did you mean "node_name"?)',
      '/etc/pxebootd/c.yaml:10:32: commands.mkdir: unknown key "mkdir"; allowed keys: mount, umount, exportfs, journalctl, ip, dbus_send',
      '/etc/pxebootd/c.yaml:12:31: sources[0].program: unknown key "program"; allowed keys: type, path, from_start, programs, format (did you mean "programs"?)',
      '/etc/pxebootd/c.yaml:13:42: sources[1].iface: unknown key "iface"; allowed keys: type, interface, port, new_client_burst, new_clients_per_second',
      '/etc/pxebootd/c.yaml:14:13: sources[2].type: expected type one of "dnsmasq-leases" | "isc-leases" | "kea-leases" | "syslog" | "journal" | "dhcp-snoop" | "http-log", found "tftp"',
      '/etc/pxebootd/c.yaml:15:5: sources[3].type: missing required key "type": expected one of "dnsmasq-leases" | "isc-leases" | "kea-leases" | "syslog" | "journal" | "dhcp-snoop" | "http-log"',
      '/etc/pxebootd/c.yaml:17:33: hosts[0].rootdir: unknown key "rootdir"; allowed keys: mac, ip, hostname, root_dir, image, on_image_change, node_dir, overlay_dir, node_name, pxe_template, grub_template, ipxe_template, overlay, on_release, vars, ignore (did you mean "root_dir"?)',
      '/etc/pxebootd/c.yaml:18:10: queue.concurency: unknown key "concurency"; allowed keys: concurrency, retry_base_ms, retry_max_ms (did you mean "concurrency"?)',
      '/etc/pxebootd/c.yaml:19:35: metrics.port: unknown key "port"; allowed keys: listen',
    ]);
  });

  test('journal trusted_users: kept as given ([] too), absent means the watcher\'s default; user names checked; listed among the allowed keys', () => {
    const r = check(`${BASE_YAML}sources:
  - { type: journal, trusted_users: [tftp, dnsmasq] }
  - { type: journal, trusted_users: [] }
  - { type: journal }
`);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config!.sources.map((s) => (s.type === 'journal' ? s.trusted_users : 'other')), [['tftp', 'dnsmasq'], [], undefined]);
    const out = lines(`${BASE_YAML}sources:
  - { type: journal, trusted_users: ["tftp daemon"] }
  - { type: journal, trusted_user: [tftp] }
`);
    assert.equal(out.length, 2, out.join('\n'));
    assert.match(out[0]!, /sources\[0\]\.trusted_users\[0\]: expected a user name such as tftp, found "tftp daemon"/);
    assert.match(out[1]!, /sources\[1\]\.trusted_user: unknown key "trusted_user"; allowed keys: type, identifiers, directory, trusted_users \(did you mean "trusted_users"\?\)/);
  });

  test('bad CIDRs, IPs, MACs, hostnames, names and listen addresses', () => {
    const out = lines(`server: "10.0.0.300"
sources:
  - { type: dhcp-snoop, interface: "eth 0", new_client_burst: 0, port: 70000 }
  - { type: journal, identifiers: ["in tftpd"] }
metrics: { listen: "127.0.0.1" }
grub_dir: ../grub
subnets:
  - cidr: 10.0.0.0/33
    ignore: true
  - cidr: 10.0.0.0
    ignore: true
  - cidr: 10.0.0.256/24
    ignore: true
  - cidr: 10.0.0.128/24
    ignore: true
hosts:
  - { mac: "52:54:00:12:34", root_dir: /img/root }
  - { ip: 10.0.0.01 }
  - { hostname: "-bad-" }
`);
    assert.deepEqual(out, [
      '/etc/pxebootd/c.yaml:1:9: server: expected a dotted-quad IPv4 address such as 10.0.0.1, found "10.0.0.300"',
      '/etc/pxebootd/c.yaml:3:36: sources[0].interface: expected a network interface name (1-15 chars, no "/" or spaces), found "eth 0"',
      '/etc/pxebootd/c.yaml:3:63: sources[0].new_client_burst: expected a number >= 1, found number 0',
      '/etc/pxebootd/c.yaml:3:72: sources[0].port: expected a number <= 65535, found number 70000',
      '/etc/pxebootd/c.yaml:4:36: sources[1].identifiers[0]: expected a program name such as in.tftpd, found "in tftpd"',
      '/etc/pxebootd/c.yaml:5:20: metrics.listen: expected HOST:PORT such as 127.0.0.1:9642, found "127.0.0.1"',
      '/etc/pxebootd/c.yaml:6:11: grub_dir: expected a directory relative to tftp_root without "..", found "../grub"',
      '/etc/pxebootd/c.yaml:8:11: subnets[0].cidr: expected a prefix length 0..32, found /33',
      '/etc/pxebootd/c.yaml:10:11: subnets[1].cidr: expected an IPv4 network such as 10.0.0.0/24, found "10.0.0.0"',
      '/etc/pxebootd/c.yaml:12:11: subnets[2].cidr: expected an IPv4 network address before "/", found "10.0.0.256"',
      '/etc/pxebootd/c.yaml:14:11: subnets[3].cidr: host bits set in 10.0.0.128/24: expected the network address 10.0.0.0/24',
      '/etc/pxebootd/c.yaml:17:12: hosts[0].mac: expected a MAC address such as 52:54:00:12:34:56, found "52:54:00:12:34"',
      '/etc/pxebootd/c.yaml:18:11: hosts[1].ip: expected a dotted-quad IPv4 address such as 10.0.0.1, found "10.0.0.01"',
      '/etc/pxebootd/c.yaml:19:17: hosts[2].hostname: expected an RFC 1123 host name (letters, digits, "-", dot-separated), found "-bad-"',
    ]);
  });

  test('server may be a host name, not an invalid one', () => {
    assert.deepEqual(check(BASE_YAML.replace('10.0.0.1', 'pxe-1.lab.example')).problems, []);
    assert.deepEqual(lines(BASE_YAML.replace('10.0.0.1', '"pxe_1"')), [
      '/etc/pxebootd/c.yaml:1:9: server: expected an IPv4 address or an RFC 1123 host name, found "pxe_1"',
    ]);
  });
});

describe('validateConfigText: keys that are not plain strings', () => {
  test('a map or binary used as a key is a located problem, not a stringified key', () => {
    assert.deepEqual(lines('server: 10.0.0.1\n{ kernel }: 3\n'), ['/etc/pxebootd/c.yaml:2:1: YAML: expected a plain key, found a map used as a key']);
    assert.deepEqual(lines('server: 10.0.0.1\n? [a, b]\n: 3\n'), ['/etc/pxebootd/c.yaml:2:3: YAML: expected a plain key, found a list used as a key']);
    assert.deepEqual(lines('server: 10.0.0.1\n!!binary aGk=: 3\n'), ['/etc/pxebootd/c.yaml:2:10: YAML: expected a plain key, found binary data used as a key']);
  });
});
