#!/bin/sh
# pxebootd(8): the CLI on the Node.js runtime bundled in this package (never the system's node).
exec /usr/lib/pxebootd/node/bin/node /usr/lib/pxebootd/bin/pxebootd.js "$@"
