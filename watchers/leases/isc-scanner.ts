// Incremental splitter for ISC dhcpd.leases: feed appended text, get back the top-level statements
// that are complete (`x;` or `x { … }` with nested blocks, strings and comments respected). An
// unfinished trailing statement (stdio buffering between commits) waits for the next feed.
// State is a few integers plus the unfinished tail, so an append costs the same on any file size.

/** One complete top-level statement and the byte offset (latin1 text) where it starts. */
export interface IscStatement {
  text: string;
  offset: number;
}

/** Scanner state: the unfinished tail and where scanning stopped inside it. */
export interface IscScanner {
  tail: string;
  /** offset of tail[0] in the file */
  base: number;
  pos: number;
  depth: number;
  inString: boolean;
  escape: boolean;
  inComment: boolean;
}

/** A scanner at the start of a file. */
export function createIscScanner(): IscScanner {
  return { tail: '', base: 0, pos: 0, depth: 0, inString: false, escape: false, inComment: false };
}

/** The unfinished statement is capped so a corrupt file (an unclosed brace) cannot buffer forever. */
export const MAX_STATEMENT = 1 << 20;

/**
 * Feed the next chunk; returns the statements it completed. A statement larger than MAX_STATEMENT is
 * dropped and reported through `onOverflow` and scanning resumes at the next line starting "lease ".
 */
export function feedIscScanner(s: IscScanner, chunk: string, onOverflow?: (offset: number, sample: string) => void): IscStatement[] {
  const out: IscStatement[] = [];
  let buf = s.tail + chunk;
  let start = 0;
  let i = s.pos;
  const n = buf.length;
  for (; i < n; i++) {
    const c = buf.charCodeAt(i);
    if (s.inComment) {
      if (c === 10) s.inComment = false;
      continue;
    }
    if (s.inString) {
      if (s.escape) s.escape = false;
      else if (c === 92) s.escape = true;
      else if (c === 34) s.inString = false;
      continue;
    }
    if (c === 34) s.inString = true;
    else if (c === 35) s.inComment = true;
    else if (c === 123) s.depth++;
    else if (c === 125) {
      if (s.depth > 0) s.depth--;
      if (s.depth === 0) {
        out.push({ text: buf.slice(start, i + 1), offset: s.base + start });
        start = i + 1;
      }
    } else if (c === 59 && s.depth === 0) {
      out.push({ text: buf.slice(start, i + 1), offset: s.base + start });
      start = i + 1;
    }
    if (i - start > MAX_STATEMENT) {
      onOverflow?.(s.base + start, buf.slice(start, start + 200));
      const next = buf.indexOf('\nlease ', i);
      s.depth = 0;
      s.inString = false;
      s.escape = false;
      s.inComment = false;
      if (next < 0) {
        // drop everything seen so far; keep scanning new data from a clean state
        s.base += n;
        s.tail = '';
        s.pos = 0;
        return out;
      }
      start = next + 1;
      i = next;
    }
  }
  s.base += start;
  s.tail = buf.slice(start);
  s.pos = s.tail.length;
  buf = '';
  return out;
}
