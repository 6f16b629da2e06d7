// Read what was appended to a file since last time, or all of it when the path now names another
// inode (rename rewrite) or the file shrank (truncation). Chunked, so a 100 MB journal never sits
// in memory whole, and an append costs the size of the append, not of the file.
import { openRegular } from '../../src/safe-open.ts';

/** Where we stopped reading, and which inode that offset belongs to. */
export interface TailState {
  dev: number;
  ino: number;
  offset: number;
}

const CHUNK = 4 << 20;

/**
 * Read new bytes of `path` (latin1, so string offsets are byte offsets). `onReset` runs before the
 * first chunk when reading starts over. Returns the new state, or undefined if the file is missing.
 */
export async function readAppended(
  path: string,
  prev: TailState | undefined,
  onChunk: (text: string) => void,
  onReset: () => void,
): Promise<{ state: TailState; reset: boolean } | undefined> {
  let fh, st;
  try {
    // a FIFO, device or refused symlink throws RefusedFileError (safe-open.ts), never blocks
    ({ fh, st } = await openRegular(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const reset = !prev || prev.ino !== st.ino || prev.dev !== st.dev || st.size < prev.offset;
    let offset = reset ? 0 : prev.offset;
    if (reset) onReset();
    const end = st.size;
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(end - offset, 1)));
    while (offset < end) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - offset), offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      onChunk(buf.toString('latin1', 0, bytesRead));
    }
    return { state: { dev: st.dev, ino: st.ino, offset }, reset };
  } finally {
    await fh.close();
  }
}
