import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formatAge, matchesNode, renderStatusTable, renderSummary, renderTimeline, STATUS_COLUMNS } from '../../../src/cli/status-table.ts';
import { socketFromConfigText } from '../../../src/cli/hook-command.ts';
import { parseCommand, DEFAULT_CONFIG } from '../../../src/cli/args.ts';
import { PxeError } from '../../../src/errors.ts';
import type { NodeRecord } from '../../../src/types.ts';

const n = (over: Partial<NodeRecord>): NodeRecord => ({ name: 'A', ip: '10.0.0.1', subnet: '10.0.0.0/24', state: 'ready', fsid: 7, lastSeen: 0, sources: [], ...over });

describe('cli pure parts', () => {
  test('status table: every column, sorted by name, one line per node, errors on one line', () => {
    const now = 1_000_000_000;
    const out = renderStatusTable(
      [
        n({ name: 'B', ip: '10.0.0.2', state: 'failed', lastError: 'mount failed:\nexit 32', lastSeen: now - 5000, sources: ['syslog:/var/log/syslog', 'dnsmasq-leases:/x', 'syslog:/y'] }),
        n({ name: 'A', mac: '52:54:00:00:00:01', hostname: 'a', lastSeen: now - 3 * 3600_000 }),
      ],
      now,
    );
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    for (const c of STATUS_COLUMNS) assert.ok(lines[0]!.includes(c));
    assert.match(lines[1]!, /^A\s+52:54:00:00:00:01\s+10\.0\.0\.1\s+a\s+10\.0\.0\.0\/24\s+ready\s+7\s+3h ago\s+-\s+-$/);
    assert.match(lines[2]!, /^B\s+-\s+10\.0\.0\.2\s+-\s+10\.0\.0\.0\/24\s+failed\s+7\s+5s ago\s+syslog,dnsmasq-leases\s+mount failed: exit 32$/);
    assert.equal(renderSummary([n({}), n({ state: 'failed' })], 'x'), '2 nodes (1 ready, 0 pending, 1 failed, 0 released) from x\n');
  });

  test('status filter and timeline', () => {
    const a = n({ name: '0A000001', mac: '52:54:00:00:00:01', timeline: [{ time: 1000, what: 'dnsmasq-leases seen', source: 'dnsmasq-leases:/l' }, { time: 1160, what: 'tftp pxelinux.0' }, { time: 1200, what: 'ready' }] });
    assert.ok(matchesNode(a, '0a000001'));
    assert.ok(matchesNode(a, '10.0.0.1'));
    assert.ok(matchesNode(a, '52-54-00-00-00-01'));
    assert.ok(!matchesNode(a, '10.0.0.2'));
    const t = renderTimeline(a).split('\n');
    assert.match(t[0]!, /timeline of 0A000001/);
    assert.match(t[2]!, /\+\s+160 ms  tftp pxelinux\.0$/);
  });

  test('ages', () => {
    assert.equal(formatAge(0, 5), '-');
    assert.equal(formatAge(1000, 1000 + 119_000), '119s ago');
    assert.equal(formatAge(1000, 1000 + 600_000), '10m ago');
    assert.equal(formatAge(1000, 1000 + 3 * 86400_000), '3d ago');
  });

  test('hook finds control_socket without a YAML parser', () => {
    assert.equal(socketFromConfigText('server: x\ncontrol_socket: /run/p.sock # c\n'), '/run/p.sock');
    assert.equal(socketFromConfigText('control_socket: "/run/a b.sock"\n'), '/run/a b.sock');
    assert.equal(socketFromConfigText("control_socket: 'rel/c.sock'\n"), 'rel/c.sock');
    assert.equal(socketFromConfigText('  control_socket: /nested/not-top-level\n'), undefined);
    assert.equal(socketFromConfigText('server: x\n'), undefined);
  });

  test('arguments: -c everywhere, usage errors are USAGE', () => {
    const r = parseCommand('status', ['--json', '-c', '/x.yaml'], { json: { type: 'boolean' } }, { min: 0, max: 0, names: '' });
    assert.equal(r.config, '/x.yaml');
    assert.equal(r.values.json, true);
    const saved = process.env.PXEBOOTD_CONFIG;
    delete process.env.PXEBOOTD_CONFIG;
    assert.equal(parseCommand('check', [], {}, { min: 0, max: 0, names: '' }).config, DEFAULT_CONFIG);
    if (saved !== undefined) process.env.PXEBOOTD_CONFIG = saved;
    const usage = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof PxeError && e.code === 'USAGE');
    usage(() => parseCommand('status', ['--nope'], {}, { min: 0, max: 0, names: '' }));
    usage(() => parseCommand('explain', [], {}, { min: 1, max: 1, names: '<mac|ip>' }));
    usage(() => parseCommand('explain', ['a', 'b'], {}, { min: 1, max: 1, names: '<mac|ip>' }));
  });
});
