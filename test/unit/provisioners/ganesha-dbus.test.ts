// dbus-send's output as Ganesha 4.3 answers it (captured from a real ganesha.nfsd on a private bus).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientIsIp, parseAddReply, parseDbusSendError, parseDisplayExport, parseShowExports } from '../../../provisioners/ganesha-dbus.ts';

const ADD_OK = `method return time=1796420403.70 sender=:1.0 -> destination=:1.10 serial=13 reply_serial=2
   string "1 exports added"
`;
const DISPLAY = `method return time=1796420403.70 sender=:1.0 -> destination=:1.10 serial=9 reply_serial=2
   uint16 101
   string "/srv/nodes/n1"
   string "/nodes/n1"
   string ""
   array [
      struct {
         string "10.99.0.50/32"
         int32 0
         byte 0
         byte 255
         uint32 1
      }
   ]
`;

test('AddExport: the count Ganesha reports', () => {
  assert.equal(parseAddReply(ADD_OK), 1);
  assert.equal(parseAddReply('method return\n   string "0 exports added"\n'), 0);
  assert.equal(parseAddReply('method return\n   string "something else"\n'), undefined);
  assert.equal(parseAddReply(''), undefined);
});

test('DisplayExport: id, path, pseudo and the client list', () => {
  assert.deepEqual(parseDisplayExport(DISPLAY), { id: 101, path: '/srv/nodes/n1', pseudo: '/nodes/n1', clients: ['10.99.0.50/32'] });
  assert.equal(parseDisplayExport('method return\n'), undefined);
  assert.ok(clientIsIp('10.99.0.50/32', '10.99.0.50'));
  assert.ok(clientIsIp('10.99.0.50', '10.99.0.50'));
  assert.ok(!clientIsIp('10.99.0.0/24', '10.99.0.50'));
  assert.ok(!clientIsIp('10.99.0.500/32', '10.99.0.50'));
});

test('errors: Ganesha refusing one change vs nobody to talk to', () => {
  assert.deepEqual(parseDbusSendError('Error org.freedesktop.DBus.Error.InvalidFileContent: Selected entries in /x.conf already active!!!\n'), {
    name: 'org.freedesktop.DBus.Error.InvalidFileContent',
    message: 'Selected entries in /x.conf already active!!!',
    unreachable: false,
  });
  assert.equal(parseDbusSendError('Error org.freedesktop.DBus.Error.InvalidArgs: lookup_export failed with Export id not found\n').unreachable, false);
  assert.equal(parseDbusSendError('Error org.freedesktop.DBus.Error.ServiceUnknown: The name org.ganesha.nfsd was not provided by any .service files\n').unreachable, true);
  assert.equal(parseDbusSendError('Error org.freedesktop.DBus.Error.AccessDenied: Rejected send message\n').unreachable, true);
  const nobus = parseDbusSendError('Failed to open connection to "system" message bus: Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory\n');
  assert.equal(nobus.unreachable, true);
  assert.equal(nobus.name, undefined);
  assert.match(nobus.message, /system_bus_socket/);
  assert.equal(parseDbusSendError('').unreachable, true);
});

// ShowExports from ganesha.nfsd 4.3 with two EXPORT blocks (Export_Id 10001 and 10002) and its
// pseudo root, verbatim as `dbus-send --print-reply` printed it
const SHOW = `method return time=1796462595.369992 sender=:1.0 -> destination=:1.2 serial=4 reply_serial=2
   struct {
      uint64 1796462595
      uint64 351461170
   }
   array [
      struct {
         uint16 10001
         string "/tmp/pxd-cap-tFxSZE/a"
         struct {
            struct {
               string "NFSv3"
               boolean false
            }
            struct {
               string "MNT"
               boolean false
            }
            struct {
               string "NMLv4"
               boolean false
            }
            struct {
               string "RQUOTA"
               boolean false
            }
            struct {
               string "NFSv40"
               boolean false
            }
            struct {
               string "NFSv41"
               boolean false
            }
            struct {
               string "NFSv42"
               boolean false
            }
            struct {
               string "9P"
               boolean false
            }
         }
         struct {
            uint64 0
            uint64 0
         }
      }
      struct {
         uint16 10002
         string "/tmp/pxd-cap-tFxSZE/b"
         struct {
            struct {
               string "NFSv3"
               boolean false
            }
            struct {
               string "MNT"
               boolean false
            }
            struct {
               string "NMLv4"
               boolean false
            }
            struct {
               string "RQUOTA"
               boolean false
            }
            struct {
               string "NFSv40"
               boolean false
            }
            struct {
               string "NFSv41"
               boolean false
            }
            struct {
               string "NFSv42"
               boolean false
            }
            struct {
               string "9P"
               boolean false
            }
         }
         struct {
            uint64 0
            uint64 0
         }
      }
      struct {
         uint16 0
         string "/"
         struct {
            struct {
               string "NFSv3"
               boolean false
            }
            struct {
               string "MNT"
               boolean false
            }
            struct {
               string "NMLv4"
               boolean false
            }
            struct {
               string "RQUOTA"
               boolean false
            }
            struct {
               string "NFSv40"
               boolean false
            }
            struct {
               string "NFSv41"
               boolean false
            }
            struct {
               string "NFSv42"
               boolean false
            }
            struct {
               string "9P"
               boolean false
            }
         }
         struct {
            uint64 0
            uint64 0
         }
      }
   ]
`;

test('ShowExports: every Export_Id with its path, the pseudo root included; the per-protocol strings are not exports', () => {
  assert.deepEqual(parseShowExports(SHOW), [
    { id: 10001, path: '/tmp/pxd-cap-tFxSZE/a' },
    { id: 10002, path: '/tmp/pxd-cap-tFxSZE/b' },
    { id: 0, path: '/' },
  ]);
});

test('ShowExports: an empty list is a list; anything else is not a reply', () => {
  assert.deepEqual(parseShowExports('method return time=1 sender=:1.0 -> destination=:1.2 serial=4 reply_serial=2\n   struct {\n      uint64 1\n      uint64 2\n   }\n   array [\n   ]\n'), []);
  assert.equal(parseShowExports(''), undefined);
  assert.equal(parseShowExports('method return time=1 sender=:1.0 -> destination=:1.2 serial=4 reply_serial=2\n   string "1 exports added"\n'), undefined);
  // a path with a quote in it (dbus-send prints strings unescaped) stays whole
  assert.deepEqual(parseShowExports('method return x\n   array [\n      struct {\n         uint16 7\n         string "/srv/a "b""\n      }\n   ]\n'), [{ id: 7, path: '/srv/a "b"' }]);
});
