// Which journald entries are attested as the real TFTP/DHCP daemon's (journalEvidence): _UID of root
// or a daemon user AND the tag's own executable in _EXE/_COMM. The fixtures are real `journalctl -o
// json` entries from systemd-journald 252 on this machine (cursor and ids shortened), written by:
// logger run as nobody, logger run as root, and tftpd-hpa's in.tftpd child (uid tftp).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TRUSTED_USERS, journalEvidence, parseJournalLine, parsePasswd, resolveTrustedUsers, type JournalEntry } from '../../../../watchers/logs/journal-entry.ts';
import { isAuthoritative, isBootEvidence, SOURCE_TRUST } from '../../../../src/trust.ts';

const LOGGER_NOBODY = '{"_SOURCE_REALTIME_TIMESTAMP":"1796429025042843","SYSLOG_FACILITY":"3","_PID":"7987","SYSLOG_IDENTIFIER":"in.tftpd","_RUNTIME_SCOPE":"system","_TRANSPORT":"syslog","MESSAGE":"RRQ from 10.1.1.1 filename pxelinux.0","_HOSTNAME":"vm","_GID":"65534","_COMM":"logger","__REALTIME_TIMESTAMP":"1796429025042908","__CURSOR":"s=e;i=37e","PRIORITY":"5","_UID":"65534"}';
const LOGGER_ROOT = '{"__REALTIME_TIMESTAMP":"1796429025046466","SYSLOG_FACILITY":"1","__CURSOR":"s=e;i=37f","_CMDLINE":"logger --socket /tmp/j/run/systemd/journal/dev-log -t in.tftpd -- \\"RRQ from 10.1.1.2 filename pxelinux.0\\"","PRIORITY":"5","_PID":"7988","_UID":"0","MESSAGE":"RRQ from 10.1.1.2 filename pxelinux.0","_TRANSPORT":"syslog","SYSLOG_IDENTIFIER":"in.tftpd","_COMM":"logger","_EXE":"/usr/bin/logger","_GID":"0"}';
const TFTPD = '{"MESSAGE":"RRQ from 10.77.0.1 filename pxelinux.0","_GID":"105","_PID":"8689","SYSLOG_IDENTIFIER":"in.tftpd","_COMM":"in.tftpd","_CAP_EFFECTIVE":"0","_EXE":"/usr/sbin/in.tftpd","_UID":"102","_TRANSPORT":"syslog","_CMDLINE":"in.tftpd -L -v -v -v --secure --address 10.77.0.1:69 -u tftp /tmp/j/tftp"}';

const TFTP_UID = 102;
const DNSMASQ_UID = 999;
const UIDS = new Set([0, TFTP_UID, DNSMASQ_UID]);

function entry(line: string): JournalEntry {
  const r = parseJournalLine(line);
  assert.ok(r.ok, line);
  return r.entry;
}

describe('parseJournalLine: trusted fields', () => {
  test('_UID and _EXE of a real in.tftpd entry', () => {
    const e = entry(TFTPD);
    assert.equal(e.uid, TFTP_UID);
    assert.equal(e.exe, '/usr/sbin/in.tftpd');
    assert.equal(e.comm, 'in.tftpd');
  });
  test('no _EXE when journald could not read it (short-lived logger)', () => {
    const e = entry(LOGGER_NOBODY);
    assert.equal(e.uid, 65534);
    assert.equal(e.exe, undefined);
  });
  test('malformed _UID is no uid; " (deleted)" is stripped from _EXE (the daemon was upgraded while running)', () => {
    assert.equal(entry('{"MESSAGE":"m","_UID":"-1"}').uid, undefined);
    assert.equal(entry('{"MESSAGE":"m","_UID":"0x0"}').uid, undefined);
    assert.equal(entry('{"MESSAGE":"m","_UID":"99999999999"}').uid, undefined);
    assert.equal(entry('{"MESSAGE":"m","_UID":"4294967295"}').uid, undefined);
    assert.equal(entry('{"MESSAGE":"m","_EXE":"/usr/sbin/dnsmasq (deleted)"}').exe, '/usr/sbin/dnsmasq');
  });
});

describe('journalEvidence', () => {
  test('the real in.tftpd child (uid tftp, _EXE /usr/sbin/in.tftpd) is attested', () => {
    assert.deepEqual(journalEvidence(entry(TFTPD), 'in.tftpd', UIDS), { trusted: true, why: '/usr/sbin/in.tftpd, uid 102' });
  });
  test('logger -t in.tftpd by an unprivileged user: not attested (_UID), right tag or not', () => {
    const r = journalEvidence(entry(LOGGER_NOBODY), 'in.tftpd', UIDS);
    assert.deepEqual(r, { trusted: false, why: '_UID 65534 is not a trusted user' });
  });
  test('logger -t in.tftpd by root: not attested (_EXE is logger)', () => {
    assert.deepEqual(journalEvidence(entry(LOGGER_ROOT), 'in.tftpd', UIDS), { trusted: false, why: '_EXE /usr/bin/logger is not in.tftpd' });
  });
  test('an unprivileged user running the real /usr/sbin/in.tftpd (or a copy named so): not attested', () => {
    assert.equal(journalEvidence({ message: '', uid: 1000, exe: '/usr/sbin/in.tftpd', comm: 'in.tftpd' }, 'in.tftpd', UIDS).trusted, false);
    assert.equal(journalEvidence({ message: '', uid: 65534, exe: '/tmp/x/in.tftpd', comm: 'in.tftpd' }, 'in.tftpd', UIDS).trusted, false);
  });
  test('fields missing: no _UID is not attested; neither _EXE nor _COMM (the sender exited) is attested for a daemon user, not for root; _COMM alone is enough with a trusted _UID', () => {
    assert.deepEqual(journalEvidence({ message: '', exe: '/usr/sbin/in.tftpd', comm: 'in.tftpd' }, 'in.tftpd', UIDS), { trusted: false, why: 'no _UID' });
    assert.equal(journalEvidence({ message: '', uid: TFTP_UID }, 'in.tftpd', UIDS).trusted, true);
    assert.equal(journalEvidence({ message: '', uid: 0 }, 'in.tftpd', UIDS).trusted, false);
    assert.equal(journalEvidence({ message: '', uid: 65534 }, 'in.tftpd', UIDS).trusted, false);
    assert.equal(journalEvidence({ message: '', uid: TFTP_UID, comm: 'in.tftpd' }, 'in.tftpd', UIDS).trusted, true);
    assert.equal(journalEvidence({ message: '', uid: TFTP_UID, exe: '/usr/sbin/in.tftpd' }, 'in.tftpd', UIDS).trusted, true);
  });
  test('mismatches: _COMM renamed by the process, another daemon\'s executable, a tag with no known executable', () => {
    assert.equal(journalEvidence({ message: '', uid: 0, exe: '/usr/sbin/in.tftpd', comm: 'sh' }, 'in.tftpd', UIDS).trusted, false);
    assert.equal(journalEvidence({ message: '', uid: 0, exe: '/usr/sbin/dnsmasq', comm: 'dnsmasq' }, 'in.tftpd', UIDS).trusted, false);
    assert.equal(journalEvidence({ message: '', uid: 0, exe: '/usr/sbin/in.tftpd.evil', comm: 'in.tftpd.evil' }, 'in.tftpd', UIDS).trusted, false);
    assert.equal(journalEvidence({ message: '', uid: 0, exe: '/usr/sbin/mytftpd', comm: 'mytftpd' }, 'mytftpd', UIDS).trusted, false);
    // prototype keys are not programs
    assert.equal(journalEvidence({ message: '', uid: 0, exe: '/x/constructor', comm: 'constructor' }, 'constructor', UIDS).trusted, false);
  });
  test('dnsmasq\'s tags belong to the dnsmasq executable (uid dnsmasq, or root)', () => {
    for (const tag of ['dnsmasq-dhcp', 'dnsmasq-tftp', 'dnsmasq']) {
      assert.equal(journalEvidence({ message: '', uid: DNSMASQ_UID, exe: '/usr/sbin/dnsmasq', comm: 'dnsmasq' }, tag, UIDS).trusted, true, tag);
      assert.equal(journalEvidence({ message: '', uid: 0, exe: '/usr/sbin/dnsmasq' }, tag, UIDS).trusted, true, tag);
      assert.equal(journalEvidence({ message: '', uid: 1000, exe: '/usr/sbin/dnsmasq' }, tag, UIDS).trusted, false, tag);
    }
  });
  test('trusted_users: [] attests nothing, not even root', () => {
    assert.equal(journalEvidence(entry(TFTPD), 'in.tftpd', new Set()).trusted, false);
    assert.equal(journalEvidence({ message: '', uid: 0, exe: '/usr/sbin/in.tftpd' }, 'in.tftpd', new Set()).trusted, false);
  });
});

describe('trusted users from /etc/passwd', () => {
  const PASSWD = 'root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\ntftp:x:102:105:tftp daemon,,,:/srv/tftp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\ntftp:x:5:5::/:/bin/false\nbad:x:notanumber:1::/:/bin/false\n';
  test('parsePasswd: first entry of a name wins, malformed lines skipped', () => {
    assert.deepEqual([...parsePasswd(PASSWD)], [['root', 0], ['tftp', 102], ['nobody', 65534]]);
  });
  test('default users: root always, tftp when it exists; a missing dnsmasq is listed as missing', () => {
    assert.deepEqual(resolveTrustedUsers(DEFAULT_TRUSTED_USERS, parsePasswd(PASSWD)), { uids: new Set([0, 102]), missing: ['dnsmasq'] });
    // root is uid 0 even when /etc/passwd could not be read
    assert.deepEqual(resolveTrustedUsers(['root', 'tftp'], new Map()), { uids: new Set([0]), missing: ['tftp'] });
  });
});

describe('trust.ts: boot evidence', () => {
  test('journald decides a second boot only when attested; releases unchanged', () => {
    assert.equal(isBootEvidence({ sourceType: 'journal' }), false);
    assert.equal(isBootEvidence({ sourceType: 'journal', evidence: 'trusted' }), true);
    assert.equal(isAuthoritative('journal'), false, 'journald still may not release');
  });
  test('a flag on a source that cannot attest is ignored', () => {
    for (const t of ['syslog', 'http-log', 'dhcp-snoop'] as const) {
      assert.equal(isBootEvidence({ sourceType: t, evidence: 'trusted' }), false, t);
      assert.equal(SOURCE_TRUST[t].bootEvidence, 'never');
    }
    assert.equal(isBootEvidence({ sourceType: 'nonsense' as 'syslog', evidence: 'trusted' }), false);
  });
  test('every source that may release is boot evidence as it is (the hook quarantines as before)', () => {
    for (const [t, v] of Object.entries(SOURCE_TRUST)) if (v.release) assert.equal(isBootEvidence({ sourceType: t as 'hook' }), true, t);
  });
});
