// A small error taxonomy with stable codes; only the CLI maps these to exit codes.

export type ErrorCode = 'CONFIG' | 'PARSE' | 'RUN' | 'CONFLICT' | 'STATE' | 'USAGE';

/** Base class: `code` is stable and scriptable, `message` is for humans. */
export class PxeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'PxeError';
  }
}

/** One located config problem: FILE:LINE:COL: key.path: message */
export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

/** One config problem as the line `check` and the daemon print: file:line:col, key, what was expected. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path ? p.path + ': ' : ''}${p.message}`;
}

/** Every problem found in a config, not just the first. */
export class ConfigError extends PxeError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super('CONFIG', problems.map(formatProblem).join('\n'));
    this.problems = problems;
    this.name = 'ConfigError';
  }
}

/** An external command failed; carries everything needed to reproduce it. */
export class RunError extends PxeError {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly stderr: string;
  constructor(command: string, exitCode: number | undefined, stderr: string, cause?: unknown) {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super('RUN', `${command} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}${tail ? `: ${tail}` : ''}`, { cause });
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
    this.name = 'RunError';
  }
}

/** A mount or export exists with settings other than the ones we need. */
export class ConflictError extends PxeError {
  constructor(message: string) {
    super('CONFLICT', message);
    this.name = 'ConflictError';
  }
}

/** A thrown value of any kind as a message for a log line. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
