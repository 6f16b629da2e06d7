import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/index.ts';
import { compileRules, matchClient } from '../../src/rules.ts';
import type { Config, MatchResult } from '../../src/types.ts';
import { intToIp } from '../../src/validate.ts';
import { memProbe } from './config/mem-probe.ts';

const F = '/etc/pxebootd/pxebootd.yaml';
const T = 'pxe_template: /t/pxe';
const TEXT = `server: 10.0.0.1
subnets:
  - { cidr: 10.0.0.0/16, root_dir: /img/a, node_dir: /n, overlay_dir: /o, ${T}, vars: { kernel: k0, console: ttyS0 } }
  - { cidr: 10.0.1.0/24, root_dir: /img/b, node_dir: /n, overlay_dir: /o, ${T}, on_release: unexport, vars: { kernel: k1 } }
  - { cidr: 10.0.1.128/25, ignore: true }
  - { cidr: 10.0.2.0/24, ignore: true }
hosts:
  - { mac: "52:54:00:00:00:01", root_dir: /img/c }
  - { ip: 10.0.1.10, root_dir: /img/d, node_name: mac }
  - { hostname: bench-1, root_dir: /img/e, vars: { kernel: k2 } }
  - { ip: 10.0.1.200, ignore: false, root_dir: /img/f, node_dir: /n2, overlay_dir: /o2, ipxe_template: /t/ipxe }
  - { mac: "52:54:00:00:00:09", ignore: true }
  - { mac: "52:54:00:00:00:05", ip: 10.0.1.11, overlay: ephemeral }
`;

function load(): Config {
  const dirs = ['/img/a', '/img/b', '/img/c', '/img/d', '/img/e', '/img/f'];
  const r = validateConfigText(TEXT, F, memProbe({ '/t/pxe': '{{kernel}}', '/t/ipxe': '#!ipxe\n' }, dirs));
  assert.deepEqual(r.problems, []);
  return r.config!;
}

const config = load();
const at = (line: number) => `${F}:${line}:5`;

interface Row {
  name: string;
  client: { ip: string; mac?: string; hostname?: string };
  kind: MatchResult['kind'];
  subnet?: string;
  host?: number;
  root?: string;
  whyHas?: RegExp;
}

// Precedence table: longest prefix picks the subnet; host by mac, then ip, then hostname; ignore.
const ROWS: Row[] = [
  { name: 'only the /16 contains it', client: { ip: '10.0.5.5' }, kind: 'match', subnet: '10.0.0.0/16', root: '/img/a' },
  { name: 'longest prefix: /24 beats /16', client: { ip: '10.0.1.5' }, kind: 'match', subnet: '10.0.1.0/24', root: '/img/b', whyHas: /longest prefix containing 10\.0\.1\.5 \(also inside 10\.0\.0\.0\/16\)/ },
  { name: 'longest prefix: ignored /25 beats /24', client: { ip: '10.0.1.130' }, kind: 'ignored', whyHas: /the subnet says "ignore: true"/ },
  { name: 'ignored /24 inside the /16', client: { ip: '10.0.2.7' }, kind: 'ignored' },
  { name: 'no subnet: none', client: { ip: '192.168.0.1' }, kind: 'none', whyHas: /no subnet contains 192\.168\.0\.1/ },
  { name: 'no subnet: none even when a host rule names the MAC', client: { ip: '192.168.0.1', mac: '52:54:00:00:00:01' }, kind: 'none' },
  { name: 'host by mac', client: { ip: '10.0.1.5', mac: '52:54:00:00:00:01' }, kind: 'match', subnet: '10.0.1.0/24', host: 0, root: '/img/c', whyHas: /matches by mac 52:54:00:00:00:01/ },
  { name: 'mac beats ip', client: { ip: '10.0.1.10', mac: '52:54:00:00:00:01' }, kind: 'match', host: 0, root: '/img/c' },
  { name: 'host by ip', client: { ip: '10.0.1.10' }, kind: 'match', host: 1, root: '/img/d', whyHas: /matches by ip 10\.0\.1\.10/ },
  { name: 'ip beats hostname', client: { ip: '10.0.1.10', hostname: 'bench-1' }, kind: 'match', host: 1, root: '/img/d' },
  { name: 'unknown mac falls through to ip', client: { ip: '10.0.1.10', mac: '52:54:00:99:99:99' }, kind: 'match', host: 1 },
  { name: 'host by hostname, case-insensitive', client: { ip: '10.0.1.12', hostname: 'BENCH-1' }, kind: 'match', host: 2, root: '/img/e', whyHas: /matches by hostname bench-1/ },
  { name: 'a MAC in another notation is normalised', client: { ip: '10.0.5.5', mac: '52-54-00-00-00-01' }, kind: 'match', subnet: '10.0.0.0/16', host: 0 },
  { name: 'an invalid hostname is not matched', client: { ip: '10.0.1.12', hostname: 'bench-1 x' }, kind: 'match', subnet: '10.0.1.0/24' },
  { name: 'host ignore:false lifts the subnet ignore', client: { ip: '10.0.1.200' }, kind: 'match', subnet: '10.0.1.128/25', host: 3, root: '/img/f' },
  { name: 'host ignore:true wins over a provisioned subnet', client: { ip: '10.0.5.5', mac: '52:54:00:00:00:09' }, kind: 'ignored', whyHas: /the host rule says "ignore: true"/ },
  { name: 'a rule with mac and ip matches by ip', client: { ip: '10.0.1.11' }, kind: 'match', host: 5 },
  { name: 'a rule with mac and ip matches by mac elsewhere', client: { ip: '10.0.5.9', mac: '52:54:00:00:00:05' }, kind: 'match', subnet: '10.0.0.0/16', host: 5 },
  { name: 'not an IPv4 address', client: { ip: '10.0.1' }, kind: 'none', whyHas: /not an IPv4 address/ },
];

describe('matchClient precedence table', () => {
  for (const row of ROWS) {
    test(row.name, () => {
      const m = matchClient(row.client, config);
      assert.equal(m.kind, row.kind, JSON.stringify(m));
      const why = m.kind === 'match' ? m.rule.why : m.why;
      assert.ok(why.length > 0);
      if (row.whyHas) assert.ok(why.some((w) => row.whyHas!.test(w)), why.join(' | '));
      if (m.kind !== 'match') return;
      if (row.subnet) assert.equal(m.rule.subnet.cidr, row.subnet);
      if (row.host === undefined) assert.equal(m.rule.host, undefined);
      else assert.equal(m.rule.host, config.hosts[row.host]);
      if (row.root) assert.equal(m.rule.root_dir, row.root);
    });
  }
});

describe('ResolvedRule', () => {
  test('is complete: host fields override, vars merge, defaults filled, why cites file:line:col', () => {
    const m = matchClient({ ip: '10.0.1.12', hostname: 'bench-1' }, config);
    assert.equal(m.kind, 'match');
    if (m.kind !== 'match') return;
    const { subnet, host, ...rest } = m.rule;
    assert.equal(subnet, config.subnets[1]);
    assert.equal(host, config.hosts[2]);
    assert.deepEqual(rest, {
      why: [
        `host rule at ${at(10)} matches by hostname bench-1`,
        `subnet 10.0.1.0/24 at ${at(4)} is the longest prefix containing 10.0.1.12 (also inside 10.0.0.0/16)`,
        'the host rule sets root_dir, vars',
      ],
      root_dir: '/img/e',
      node_dir: '/n',
      overlay_dir: '/o',
      node_name: 'ip-hex',
      pxe_template: '/t/pxe',
      overlay: 'persistent',
      on_release: 'unexport',
      vars: { kernel: 'k2' },
    });
  });

  test('subnet vars are kept unless the host overrides them', () => {
    const m = matchClient({ ip: '10.0.9.9', hostname: 'bench-1' }, config);
    assert.ok(m.kind === 'match');
    assert.deepEqual(m.rule.vars, { kernel: 'k2', console: 'ttyS0' });
  });

  test('un-ignoring host: fields come from the host, templates too', () => {
    const m = matchClient({ ip: '10.0.1.200' }, config);
    assert.ok(m.kind === 'match');
    assert.equal(m.rule.node_dir, '/n2');
    assert.equal(m.rule.ipxe_template, '/t/ipxe');
    assert.equal(m.rule.pxe_template, undefined);
  });

  test('a hand-built rule without node_dir gives none, not a half-filled rule', () => {
    const c: Config = { ...config, subnets: [{ cidr: '10.9.0.0/16', root_dir: '/r', overlay_dir: '/o', pos: 'x:1:1' }], hosts: [] };
    const m = matchClient({ ip: '10.9.1.1' }, c);
    assert.equal(m.kind, 'none');
    assert.match((m as { why: string[] }).why[0]!, /lacks node_dir/);
  });
});

describe('scale', () => {
  test('10,000 hosts and 1,001 subnets: 10,000 clients match correctly (time recorded, not asserted)', (t) => {
    // distinct /24s inside 172.16.0.0/12, plus one /12 that contains them all
    const many = Array.from({ length: 1000 }, (_, i) => ({ cidr: `172.${16 + (i >> 8)}.${i & 255}.0/24`, root_dir: '/r', node_dir: '/n', overlay_dir: '/o', pos: `s${i}` }));
    const c: Config = {
      ...config,
      subnets: [{ cidr: '172.16.0.0/12', root_dir: '/r12', node_dir: '/n', overlay_dir: '/o', pos: 'big' }, ...many],
      hosts: Array.from({ length: 10000 }, (_, i) => ({ mac: `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, root_dir: `/h${i}`, pos: `h${i}` })),
    };
    const t0 = performance.now();
    const matcher = compileRules(c);
    const t1 = performance.now();
    for (let i = 0; i < 10000; i++) {
      const ip = intToIp((172 << 24 >>> 0) + (16 << 16) + i * 97);
      const mac = i % 2 ? `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` : undefined;
      const m = matcher.match({ ip, mac });
      const third = Number(ip.split('.')[1]) - 16;
      const expected = third * 256 + Number(ip.split('.')[2]) < 1000 ? `${ip.split('.').slice(0, 3).join('.')}.0/24` : '172.16.0.0/12';
      // the network and broadcast addresses of a /24 (and the /12's own) are never clients
      const last = Number(ip.split('.')[3]);
      const special = (expected !== '172.16.0.0/12' && (last === 0 || last === 255)) || ip === '172.16.0.0';
      assert.equal(m.kind, special ? 'reserved' : 'match', ip);
      if (m.kind !== 'match') continue;
      assert.equal(m.rule.subnet.cidr, expected, ip);
      assert.equal(m.rule.root_dir, mac ? `/h${i}` : expected === '172.16.0.0/12' ? '/r12' : '/r');
    }
    const t2 = performance.now();
    t.diagnostic(`compile ${(t1 - t0).toFixed(1)} ms, 10000 matches ${(t2 - t1).toFixed(1)} ms (with assertions)`);
  });

  test('matchClient caches per Config object and follows a reloaded config', () => {
    const a = matchClient({ ip: '10.0.5.5' }, config);
    const b = matchClient({ ip: '10.0.5.5' }, config);
    assert.deepEqual(a, b);
    const reloaded: Config = { ...config, subnets: [{ ...config.subnets[0]!, root_dir: '/img/new' }] };
    const c = matchClient({ ip: '10.0.5.5' }, reloaded);
    assert.ok(c.kind === 'match');
    assert.equal(c.rule.root_dir, '/img/new');
  });
});

// Addresses that are never a client's, whatever the rules say (PRODUCT.md: never provision them).
describe('reserved addresses', () => {
  const RTEXT = `server: 10.7.0.1
subnets:
  - { cidr: 0.0.0.0/0, root_dir: /img/a, node_dir: /n, overlay_dir: /o, ${T} }
  - { cidr: 10.7.0.0/24, root_dir: /img/a, node_dir: /n, overlay_dir: /o, ${T} }
  - { cidr: 10.7.1.0/30, root_dir: /img/a, node_dir: /n, overlay_dir: /o, ${T} }
  - { cidr: 10.7.2.0/31, root_dir: /img/a, node_dir: /n, overlay_dir: /o, ${T} }
  - { cidr: 10.7.3.9/32, root_dir: /img/a, node_dir: /n, overlay_dir: /o, ${T} }
  - { cidr: 10.8.0.0/16, ignore: true }
hosts:
  - { ip: 10.7.0.255, ignore: false, root_dir: /img/a }
  - { mac: "52:54:00:00:00:77", root_dir: /img/a }
`;
  const r = validateConfigText(RTEXT, F, memProbe({ '/t/pxe': 'x' }, ['/img/a']));
  assert.deepEqual(r.problems, []);
  const rc = r.config!;
  const RF = (line: number) => `${F}:${line}:5`;
  const table: Array<[string, { ip: string; mac?: string }, MatchResult['kind'], RegExp?]> = [
    ['0.0.0.0 (inside 0.0.0.0/0)', { ip: '0.0.0.0' }, 'reserved', /^0\.0\.0\.0 is the unspecified address 0\.0\.0\.0: never provisioned$/],
    ['255.255.255.255 (inside 0.0.0.0/0)', { ip: '255.255.255.255' }, 'reserved', /limited broadcast address/],
    ['the server address', { ip: '10.7.0.1' }, 'reserved', /^10\.7\.0\.1 is the server address/],
    ['the server address with a host rule naming its MAC', { ip: '10.7.0.1', mac: '52:54:00:00:00:77' }, 'reserved', /server address/],
    ['network of the /24', { ip: '10.7.0.0' }, 'reserved', new RegExp(`^10\\.7\\.0\\.0 is the network address of subnet 10\\.7\\.0\\.0/24 at ${RF(4).replace(/\./g, '\\.')}: never provisioned$`)],
    ['broadcast of the /24, even with a host rule (ignore: false) naming it', { ip: '10.7.0.255' }, 'reserved', /broadcast address of subnet 10\.7\.0\.0\/24/],
    ['a host of the /24', { ip: '10.7.0.254' }, 'match'],
    ['network of a /30', { ip: '10.7.1.0' }, 'reserved', /network address of subnet 10\.7\.1\.0\/30/],
    ['first host of a /30', { ip: '10.7.1.1' }, 'match'],
    ['second host of a /30', { ip: '10.7.1.2' }, 'match'],
    ['broadcast of a /30', { ip: '10.7.1.3' }, 'reserved', /broadcast address of subnet 10\.7\.1\.0\/30/],
    ['a /31 has no network address (RFC 3021)', { ip: '10.7.2.0' }, 'match'],
    ['a /31 has no broadcast address (RFC 3021)', { ip: '10.7.2.1' }, 'match'],
    ['a /32 is one host', { ip: '10.7.3.9' }, 'match'],
    ['network of an ignored subnet: reserved comes first', { ip: '10.8.0.0' }, 'reserved'],
    ['an address of the /0 that is no subnet edge', { ip: '192.168.7.0' }, 'match'],
  ];
  for (const [name, client, kind, why] of table) {
    test(name, () => {
      const m = matchClient(client, rc);
      assert.equal(m.kind, kind, JSON.stringify(m));
      if (why) assert.match((m as { why: string[] }).why[0]!, why);
    });
  }

  test('a server given as a DNS name reserves no address; outside every subnet 0.0.0.0 is still reserved', () => {
    const named: Config = { ...rc, server: 'boot.example', subnets: [rc.subnets[1]!], hosts: [] };
    assert.equal(matchClient({ ip: '10.7.0.1' }, named).kind, 'match');
    assert.equal(matchClient({ ip: '0.0.0.0' }, named).kind, 'reserved');
    assert.equal(matchClient({ ip: '255.255.255.255' }, named).kind, 'reserved');
    assert.equal(matchClient({ ip: '10.9.0.0' }, named).kind, 'none');
  });
});
