import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { journalctlArgv, parseJournalLine, trustedProgramOf } from '../../../../watchers/logs/journal-entry.ts';
import { eventFromMessage } from '../../../../watchers/logs/log-events.ts';

// shape of real entries from `journalctl -o json` (systemd 252) on this machine, cursor shortened
const REAL = '{"_TRANSPORT":"syslog","PRIORITY":"5","SYSLOG_FACILITY":"3","SYSLOG_IDENTIFIER":"in.tftpd","SYSLOG_PID":"19790","_PID":"19790","_COMM":"in.tftpd","__REALTIME_TIMESTAMP":"1795313622471416","__CURSOR":"s=abc;i=1f","MESSAGE":"RRQ from 10.99.0.164 filename pxelinux.cfg/default"}';

describe('parseJournalLine', () => {
  test('a syslog entry', () => {
    const r = parseJournalLine(REAL);
    assert.deepEqual(r, { ok: true, entry: { message: 'RRQ from 10.99.0.164 filename pxelinux.cfg/default', cursor: 's=abc;i=1f', identifier: 'in.tftpd', comm: 'in.tftpd', time: 1795313622471 } });
  });
  test('MESSAGE as a byte array (non-UTF-8 file name with a trailing 0xff)', () => {
    const bytes = [...Buffer.from('RRQ from 10.99.0.5 filename pxelinux.cfg/0A630005'), 0xff];
    const r = parseJournalLine(JSON.stringify({ SYSLOG_IDENTIFIER: 'in.tftpd', MESSAGE: bytes }));
    assert.ok(r.ok);
    const ev = eventFromMessage('in.tftpd', r.entry.message, { source: 'j', sourceType: 'journal', tftpRoot: '/srv/tftp' });
    assert.equal(ev.event?.kind === 'seen' && ev.event.file, 'pxelinux.cfg/0A630005');
  });
  test('null MESSAGE (over 4096 bytes), junk and non-objects are reasons, not throws', () => {
    assert.equal(parseJournalLine('{"MESSAGE":null}').ok, false);
    assert.equal(parseJournalLine('not json').ok, false);
    assert.equal(parseJournalLine('[1,2]').ok, false);
    assert.equal(parseJournalLine('null').ok, false);
  });
  test('repeated fields (arrays of strings) take the first', () => {
    const r = parseJournalLine('{"MESSAGE":"m","SYSLOG_IDENTIFIER":["in.tftpd","x"]}');
    assert.ok(r.ok && r.entry.identifier === 'in.tftpd');
  });
});

describe('trust', () => {
  const t = new Set(['in.tftpd', 'atftpd']);
  test('identifier, else _COMM (atftpd socket-activated as in.tftpd)', () => {
    assert.equal(trustedProgramOf({ message: '', identifier: 'atftpd', comm: 'in.tftpd' }, t), 'atftpd');
    assert.equal(trustedProgramOf({ message: '', identifier: 'evil', comm: 'in.tftpd' }, t), 'in.tftpd');
    assert.equal(trustedProgramOf({ message: '', identifier: 'evil', comm: 'logger' }, t), undefined);
    assert.equal(trustedProgramOf({ message: '' }, t), undefined);
  });
});

test('journalctlArgv: no match terms (the watcher filters), the fields it reads, -D, and where to start', () => {
  assert.deepEqual(journalctlArgv('journalctl', '/x/journal'), [
    'journalctl', '-f', '-o', 'json', '--output-fields=MESSAGE,SYSLOG_IDENTIFIER,_COMM,_UID,_EXE', '--no-pager', '-n', '0', '-D', '/x/journal',
  ]);
  assert.ok(journalctlArgv('journalctl', undefined, 's=1;i=2').includes('--after-cursor=s=1;i=2'));
  assert.ok(!journalctlArgv('journalctl', undefined, 's=1;i=2').includes('-n'));
  // a restart before any line was seen reads from the first start's time, not from now
  assert.deepEqual(journalctlArgv('journalctl', undefined, undefined, 1_700_000_000_042).slice(5, 7), ['--no-pager', '--since=@1700000000.042']);
  assert.ok(journalctlArgv('journalctl', undefined, 's=1', 1_700_000_000_042).includes('--after-cursor=s=1'));
});

test('fuzz: 100,000 mutated journal JSON lines, no throw', async () => {
  const { xorshift } = await import('./test-context.ts');
  const rnd = xorshift(0x10a7);
  const seeds = [REAL, JSON.stringify({ SYSLOG_IDENTIFIER: 'in.tftpd', MESSAGE: [82, 82, 81, 255] }), '{"MESSAGE":null}', '{"MESSAGE":["a",1]}'];
  const trusted = new Set(['in.tftpd']);
  let ok = 0;
  for (let i = 0; i < 100_000; i++) {
    let s = seeds[rnd() % seeds.length]!;
    for (let k = 0; k < 1 + (rnd() % 3); k++) {
      const at = rnd() % (s.length + 1);
      s = rnd() % 2 ? s.slice(0, at) + String.fromCharCode(rnd() % 128) + s.slice(at + 1) : s.slice(0, at) + s.slice(at + 1 + (rnd() % 5));
    }
    const r = parseJournalLine(s);
    if (r.ok) {
      ok++;
      assert.equal(typeof r.entry.message, 'string');
      const p = trustedProgramOf(r.entry, trusted);
      if (p) eventFromMessage(p, r.entry.message, { source: 'j', sourceType: 'journal', tftpRoot: '/srv/tftp' });
    } else assert.ok(r.reason.length > 0);
  }
  assert.ok(ok > 1000);
});
