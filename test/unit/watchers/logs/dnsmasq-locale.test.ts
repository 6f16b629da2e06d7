// dnsmasq's TFTP lines in every language the installed dnsmasq speaks: the two messages are looked
// up in its real gettext catalogs (/usr/share/locale/*/LC_MESSAGES/dnsmasq.mo), formatted as dnsmasq
// formats them, and must parse to the same event as the English line.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { DNSMASQ_LOCALE_HINT, parseDnsmasqTftpMessage } from '../../../../watchers/logs/log-messages.ts';

/** msgid -> msgstr of a GNU .mo file (little-endian, as Debian builds them). */
function readMo(file: string): Map<string, string> {
  const b = readFileSync(file);
  assert.equal(b.readUInt32LE(0), 0x950412de, `${file}: not a little-endian .mo file`);
  const n = b.readUInt32LE(8);
  const orig = b.readUInt32LE(12);
  const trans = b.readUInt32LE(16);
  const raw = (table: number, i: number) => {
    const len = b.readUInt32LE(table + i * 8);
    const off = b.readUInt32LE(table + i * 8 + 4);
    return b.subarray(off, off + len);
  };
  // gettext converts a catalog from its charset (e.g. fr: ISO-8859-1) to the locale's, UTF-8 on Debian
  let charset = 'utf-8';
  for (let i = 0; i < n; i++) {
    if (raw(orig, i).length === 0) charset = /charset=([\w-]+)/.exec(raw(trans, i).toString('latin1'))?.[1] ?? charset;
  }
  const dec = new TextDecoder(charset);
  const out = new Map<string, string>();
  for (let i = 0; i < n; i++) out.set(dec.decode(raw(orig, i)), dec.decode(raw(trans, i)));
  return out;
}

const LOCALES = '/usr/share/locale';
const catalogs = existsSync(LOCALES)
  ? readdirSync(LOCALES).map((l) => ({ lang: l, file: `${LOCALES}/${l}/LC_MESSAGES/dnsmasq.mo` })).filter((c) => existsSync(c.file))
  : [];

/** printf's %s, in order, as dnsmasq's my_syslog does it. */
const fmt = (format: string, ...args: string[]) => format.replace(/%s/g, () => args.shift()!);

describe('dnsmasq-tftp lines in every installed dnsmasq translation', () => {
  test('the installed dnsmasq ships catalogs to check against (dnsmasq-base is installed by install-deps)', () => {
    assert.ok(catalogs.length > 0, `no dnsmasq.mo under ${LOCALES}`);
  });

  for (const { lang, file } of catalogs) {
    test(`${lang}: "sent" and "not found" parse as in English`, () => {
      const mo = readMo(file);
      const sent = mo.get('sent %s to %s') || 'sent %s to %s';
      const notFound = mo.get('file %s not found for %s') || 'file %s not found for %s';
      assert.deepEqual(parseDnsmasqTftpMessage(fmt(sent, '/srv/tftp/pxelinux.cfg/01-52-54-00-00-00-05', '10.0.0.5'), '/srv/tftp'),
        { kind: 'tftp', ip: '10.0.0.5', file: 'pxelinux.cfg/01-52-54-00-00-00-05' }, `${lang}: ${sent}`);
      assert.deepEqual(parseDnsmasqTftpMessage(fmt(notFound, '/srv/tftp/pxelinux.cfg/0A000005', '10.0.0.5'), '/srv/tftp'),
        { kind: 'tftp', ip: '10.0.0.5', file: 'pxelinux.cfg/0A000005' }, `${lang}: ${notFound}`);
    });
  }

  test('the Raspberry Pi netboot line from the field (de)', () => {
    assert.deepEqual(parseDnsmasqTftpMessage('/tftpboot/bootcode.bin an 192.168.1.64 verschickt', '/tftpboot'), { kind: 'tftp', ip: '192.168.1.64', file: 'bootcode.bin' });
  });

  test('a transfer line in a language not known: a hint to run dnsmasq with LANG=C; other lines stay quiet', () => {
    assert.deepEqual(parseDnsmasqTftpMessage('/srv/tftp/pxelinux.0 ble sendt til 10.0.0.5', '/srv/tftp'), { kind: 'bad', reason: DNSMASQ_LOCALE_HINT });
    assert.equal(parseDnsmasqTftpMessage('TFTP root is /srv/tftp', '/srv/tftp'), undefined);
    assert.equal(parseDnsmasqTftpMessage('error 0 Early terminate received from 10.0.0.5', '/srv/tftp'), undefined);
    // another TFTP root's transfers are not ours, in any language
    assert.equal(parseDnsmasqTftpMessage('/other/x an 10.0.0.5 verschickt', '/srv/tftp'), undefined);
  });
});
