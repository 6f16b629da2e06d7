// The pure parts of `status`: the one-node query, the indexed lookup, the streamed status document
// (the same value as the old one-string JSON) and its reader, and the table printed as rows arrive.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { byName, findNode, noNodeMessage, parseNodeQuery, queryMatches, STATUS_DOC_END, StatusDocReader, statusDocument, tableRow, type NodeIndex } from '../../src/status-doc.ts';
import { createTableWriter, renderStatusTable, STATUS_COLUMNS, summaryLine } from '../../src/cli/status-table.ts';
import type { NodeRecord } from '../../src/types.ts';

const rec = (i: number, over: Partial<NodeRecord> = {}): NodeRecord => ({
  name: `0A6300${i.toString(16).toUpperCase().padStart(2, '0')}`,
  ip: `10.99.0.${i}`,
  mac: `52:54:00:aa:00:${i.toString(16).padStart(2, '0')}`,
  subnet: '10.99.0.0/24',
  state: i % 3 === 0 ? 'failed' : 'ready',
  fsid: 4200 + i,
  lastSeen: 1_000_000 + i,
  sources: ['dnsmasq-leases:/l'],
  timeline: [{ time: 1, what: 'dnsmasq-leases seen', source: 'dnsmasq-leases:/l' }, { time: 2, what: 'ready "quoted" \\ \u2028' }],
  ruleKey: '{"a":1}',
  ...over,
});

/** A counting index over records: proves a lookup never walks the records. */
function indexOf(nodes: NodeRecord[]): NodeIndex & { calls: string[] } {
  const calls: string[] = [];
  const byName = new Map(nodes.map((n) => [n.name, n]));
  return {
    calls,
    get: (name) => (calls.push(`get ${name}`), byName.get(name)),
    findByIp: (ip) => (calls.push(`ip ${ip}`), nodes.find((n) => n.ip === ip)),
    findByMac: (mac) => (calls.push(`mac ${mac}`), nodes.find((n) => n.mac === mac)),
  };
}

describe('status: one node', () => {
  test('a query is an IP, a MAC (any separator, any case) or a node name; anything else is none', () => {
    assert.deepEqual(parseNodeQuery(' 10.99.0.5 '), { kind: 'ip', ip: '10.99.0.5' });
    assert.deepEqual(parseNodeQuery('52-54-00-AA-00-05'), { kind: 'mac', mac: '52:54:00:aa:00:05' });
    assert.deepEqual(parseNodeQuery('525400aa0005'), { kind: 'mac', mac: '52:54:00:aa:00:05' });
    assert.deepEqual(parseNodeQuery('0a630005'), { kind: 'name', name: '0a630005' });
    assert.equal(parseNodeQuery('10.99.0.0/24'), undefined);
    assert.equal(parseNodeQuery(''), undefined);
    assert.equal(parseNodeQuery('a b'), undefined);
    assert.equal(parseNodeQuery('x'.repeat(65)), undefined);
    assert.equal(parseNodeQuery('a\u0000b'), undefined);
  });

  test('the lookup goes through the indexes: IP, MAC, MAC-named node, name in either case', () => {
    const nodes = [rec(5), rec(6, { name: '52-54-00-aa-00-06', mac: undefined })];
    const ix = indexOf(nodes);
    assert.equal(findNode(ix, parseNodeQuery('10.99.0.5')!), nodes[0]);
    assert.deepEqual(ix.calls, ['ip 10.99.0.5']);
    assert.equal(findNode(ix, parseNodeQuery('52:54:00:AA:00:05')!), nodes[0]);
    assert.equal(findNode(ix, parseNodeQuery('52:54:00:aa:00:06')!), nodes[1]);
    assert.equal(findNode(ix, parseNodeQuery('0a630005')!), nodes[0]);
    assert.equal(findNode(ix, parseNodeQuery('10.99.0.7')!), undefined);
    assert.equal(findNode(ix, parseNodeQuery('nosuch')!), undefined);
    assert.equal(noNodeMessage(' 10.66.0.99 '), 'no node 10.66.0.99');
    // picking the node out of an older daemon's answer of every node
    const q = (s: string) => parseNodeQuery(s)!;
    assert.deepEqual(nodes.filter((n) => queryMatches(n, q('::ffff:10.99.0.5'))), [nodes[0]]);
    assert.deepEqual(nodes.filter((n) => queryMatches(n, q('52:54:00:aa:00:06'))), [nodes[1]]);
    assert.deepEqual(nodes.filter((n) => queryMatches(n, q('0a630005'))), [nodes[0]]);
    assert.deepEqual(nodes.filter((n) => queryMatches(n, q('10.99.0.9'))), []);
    assert.equal(noNodeMessage('a\u001bb'), 'no node a\\x1bb');
  });
});

describe('status: the streamed document', () => {
  test('same value as the old JSON.stringify({from, daemon, nodes}) for 0, 1, 3, 200, 201 and 450 nodes, in pieces', () => {
    const daemon = { pid: 7, watching: true, queue: { depth: 0 } };
    for (const count of [0, 1, 3, 200, 201, 450]) {
      const nodes = Array.from({ length: count }, (_, i) => rec(i));
      const pieces = [...statusDocument('daemon', daemon, nodes)];
      assert.equal(pieces.length, Math.floor(count / 200) + 1, `${count} nodes: one piece per 200 nodes and the end`);
      const text = pieces.join('');
      assert.ok(text.endsWith(STATUS_DOC_END));
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify({ from: 'daemon', daemon, nodes })), `${count} nodes`);
      assert.deepEqual(Object.keys(JSON.parse(text) as object), ['from', 'daemon', 'nodes']);
      // one node a line: line-oriented tools can take it apart too
      assert.equal(text.split('\n').length, count + 3);
    }
  });

  test('without a daemon the document still has a daemon key (null)', () => {
    const v = JSON.parse([...statusDocument('state-file', undefined, [rec(1)])].join('')) as Record<string, unknown>;
    assert.ok('daemon' in v);
    assert.equal(v.daemon, null);
    assert.equal(v.from, 'state-file');
  });

  test('the reader gives back the head and every node, whatever the chunking, and refuses a cut document', () => {
    const nodes = Array.from({ length: 250 }, (_, i) => rec(i));
    const text = [...statusDocument('daemon', { pid: 1 }, nodes)].join('');
    for (const size of [1, 7, 100, 4096, text.length]) {
      const r = new StatusDocReader<NodeRecord>();
      const got: NodeRecord[] = [];
      for (let i = 0; i < text.length; i += size) got.push(...r.push(text.slice(i, i + size)));
      r.end();
      assert.deepEqual(got, JSON.parse(JSON.stringify(nodes)), `chunks of ${size}`);
      assert.deepEqual(r.head, { from: 'daemon', daemon: { pid: 1 }, nodes: [] });
    }
    for (const cut of [0, 10, text.length - STATUS_DOC_END.length, text.length - 1]) {
      const r = new StatusDocReader();
      r.push(text.slice(0, cut));
      assert.throws(() => r.end(), /ended early/, `cut at ${cut}`);
    }
    assert.throws(() => new StatusDocReader().push('{"ok":true}\n'), /head line/);
  });
});

describe('status: the table as rows arrive', () => {
  test('up to the sample size the text is the table sized over every row; beyond it lines come before the end', () => {
    const now = 2_000_000;
    const nodes = Array.from({ length: 30 }, (_, i) => rec(i, i === 17 ? { hostname: 'a-much-longer-host-name-than-the-rest', lastError: 'x\ny' } : {})).reverse();
    const sorted = [...nodes].sort(byName);
    const whole = createTableWriter(now);
    const text = sorted.map((n) => whole.push(tableRow(n))).join('') + whole.end();
    assert.equal(text, renderStatusTable(nodes, now));
    assert.equal(summaryLine(whole.count, whole.states, 'x'), '30 nodes (20 ready, 0 pending, 10 failed, 0 released) from x\n');
    // a small sample: output starts after 10 rows; a wider cell later widens its column from there on
    const w = createTableWriter(now, 10);
    const outs = sorted.map((n) => w.push(tableRow(n)));
    assert.equal(outs.slice(0, 9).join(''), '');
    assert.equal(outs[9]!.split('\n').length - 1, 11, 'header + 10 rows at the 10th row');
    assert.equal(outs[10]!.split('\n').length - 1, 1);
    assert.equal(w.end(), '');
    const lines = outs.join('').trimEnd().split('\n');
    assert.equal(lines.length, 31);
    for (const c of STATUS_COLUMNS) assert.ok(lines[0]!.includes(c));
    assert.match(lines[18]!, /a-much-longer-host-name-than-the-rest\s+10\.99\.0\.0\/24\s+ready\s+4217\s+.*x y$/);
    // an empty table is its header
    assert.equal(createTableWriter(now).end(), renderStatusTable([], now));
  });
});
