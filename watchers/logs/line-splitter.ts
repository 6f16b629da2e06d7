// Bytes in, complete lines out, for the log sources that follow a file: a trailing partial line is
// kept until its newline, an over-long line is reported once and skipped up to its newline, a
// partial line left by rotation is reported and dropped. Shared by the syslog and HTTP-log pipelines.

/** Longest line kept; longer ones are reported and skipped up to their newline. */
export const MAX_LINE_BYTES = 64 * 1024;

/** What the splitter hands on: each complete line (no newline, no CR) with its 1-based number. */
export interface LineSink {
  line(text: string, lineNo: number): void;
  /** a line that was skipped: too long, or cut by rotation */
  bad(reason: string, sample: string, lineNo: number): void;
}

/** A line splitter over one followed file. */
export interface LineSplitter {
  /** feed raw bytes (or text); complete lines are passed on, a trailing partial line is kept */
  push(chunk: Buffer | string): void;
  /** drop a kept partial line (file rotated/truncated under it), reporting it as bad input */
  discardPartial(why: string): void;
  /** restart line numbering (a new file) */
  resetLineNumbers(): void;
}

/** Build a splitter; empty lines are counted but not passed on. */
export function createLineSplitter(sink: LineSink): LineSplitter {
  let partial: Buffer | undefined;
  let skipping = false; // inside an over-long line, until its newline
  let lineNo = 0;

  const handleText = (text: string) => {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      lineNo++;
      if (nl > start) sink.line(text.charCodeAt(nl - 1) === 13 ? text.slice(start, nl - 1) : text.slice(start, nl), lineNo);
      start = nl + 1;
    }
  };

  return {
    push(chunk) {
      let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      if (skipping) {
        const nl = buf.indexOf(10);
        if (nl === -1) return;
        skipping = false;
        buf = buf.subarray(nl + 1);
      }
      const last = buf.lastIndexOf(10);
      if (last === -1) {
        partial = partial ? Buffer.concat([partial, buf]) : buf;
      } else {
        let head = buf.subarray(0, last + 1);
        if (partial) {
          head = Buffer.concat([partial, head]);
          partial = undefined;
        }
        handleText(head.toString('utf8'));
        const tail = buf.subarray(last + 1);
        partial = tail.length ? Buffer.from(tail) : undefined;
      }
      if (partial && partial.length > MAX_LINE_BYTES) {
        lineNo++;
        sink.bad(`line longer than ${MAX_LINE_BYTES} bytes skipped`, partial.subarray(0, 200).toString('utf8'), lineNo);
        partial = undefined;
        skipping = true;
      }
    },
    discardPartial(why) {
      if (partial && partial.length) {
        lineNo++;
        sink.bad(`incomplete last line dropped (${why})`, partial.subarray(0, 200).toString('utf8'), lineNo);
      }
      partial = undefined;
      skipping = false;
    },
    resetLineNumbers() {
      lineNo = 0;
    },
  };
}
