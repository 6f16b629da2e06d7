// The line framing both journals share (fsids.log, state.log), pure: whole lines up to the last
// newline, and what follows it. Only the last line can be incomplete (a crash during an append,
// before its fsync returned); a crash while the file grew can also leave NUL bytes (a block
// allocated, its data never written) after a newline.
import { printable } from '../validate.ts';

/** A journal's bytes split into whole lines (1-based numbers, empty lines left out) and its torn tail. */
export interface JournalLines {
  lines: Array<{ line: number; text: string }>;
  /** bytes of whole lines; a torn last line starts here */
  goodBytes: number;
  /** the incomplete last line in words (its text, or "N NUL bytes"), when there was one */
  torn?: string;
}

/** Split a journal's bytes; see the file comment. */
export function journalLines(buf: Uint8Array): JournalLines {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const goodBytes = b.lastIndexOf(0x0a) + 1;
  const tail = b.subarray(goodBytes);
  const torn = tail.length && tail.some((c) => c !== 0) ? printable(tail.toString('utf8'), 80) : tail.length ? `${tail.length} NUL bytes` : undefined;
  const lines: JournalLines['lines'] = [];
  let line = 0;
  for (let start = 0; start < goodBytes; ) {
    const end = b.indexOf(0x0a, start);
    line++;
    const text = b.toString('utf8', start, end);
    start = end + 1;
    if (text !== '') lines.push({ line, text });
  }
  return torn === undefined ? { lines, goodBytes } : { lines, goodBytes, torn };
}

/** JSON.parse of one journal line; a syntax error is `where` file:line:col with what was found there. */
export function parseJournalLine(file: string, line: number, text: string, expected: string, fail: (where: string, what: string) => never): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /at position (\d+)/.exec(msg);
    const at = m ? Number(m[1]) : /end of JSON input|Unterminated/.test(msg) ? text.length : 0;
    const found = at >= text.length ? 'the end of the line' : `"${printable(text.slice(at, at + 24), 40)}"`;
    return fail(`${file}:${line}:${at + 1}`, `expected ${expected}, found ${found}`);
  }
}

/** The 1-based column of the value of `"key":` in a journal line (1 when the key is not there). */
export function valueColumn(text: string, key: string): number {
  const i = text.indexOf(`${JSON.stringify(key)}:`);
  return i < 0 ? 1 : i + JSON.stringify(key).length + 2;
}
