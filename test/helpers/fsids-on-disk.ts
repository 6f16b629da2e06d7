// The fsids pxebootd has made durable in a state_dir: fsids.json (the snapshot) plus fsids.log (the
// journal appended since), read the way the store reads them at start-up.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseFsids } from '../../src/state/codec.ts';
import { parseFsidLog } from '../../src/state/fsid-log.ts';

/** name -> fsid and the high-water mark on disk now (empty when neither file exists). */
export function readFsidsOnDisk(stateDir: string): { nextFsid: number; fsids: Record<string, number> } {
  const json = path.join(stateDir, 'fsids.json');
  const log = path.join(stateDir, 'fsids.log');
  const snap = existsSync(json) ? parseFsids(json, readFileSync(json, 'utf8')) : { nextFsid: 0, fsids: new Map<string, number>() };
  const j = existsSync(log) ? parseFsidLog(log, readFileSync(log)) : { nextFsid: 0, fsids: new Map<string, number>() };
  return { nextFsid: Math.max(snap.nextFsid, j.nextFsid), fsids: Object.fromEntries([...snap.fsids, ...j.fsids]) };
}
