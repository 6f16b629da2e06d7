// The node records pxebootd has made durable in a state_dir: state.json (the snapshot) plus
// state.log.old and state.log (the journals appended since), read the way the store reads them at start-up.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { emptyState, parseState, type StateData } from '../../src/state/codec.ts';
import { parseRecordLog, replayRecordLogs } from '../../src/state/record-log.ts';

/** The records (and the fsids they and state.json carry) on disk now; empty when no file exists. */
export function readStateOnDisk(stateDir: string, startFsid = 0): StateData {
  const json = path.join(stateDir, 'state.json');
  const snap = existsSync(json) ? parseState(json, readFileSync(json, 'utf8'), startFsid) : emptyState(startFsid);
  const logs = ['state.log.old', 'state.log'].map((f) => path.join(stateDir, f)).filter((f) => existsSync(f));
  return replayRecordLogs(snap, logs.map((f) => parseRecordLog(f, readFileSync(f))), json);
}
