// Errors that reach the user. A UsageError is bad input (config, dataset line, flag): the CLI
// prints its message alone and exits 2. Anything else is a bug or a runtime failure: exit 1.

export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure while running (e.g. NaN in training): exit 1 with a diagnostic, not a stack. */
export class RunError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

export function isReportable(e: unknown): e is UsageError | RunError {
  return e instanceof UsageError || e instanceof RunError;
}

/**
 * Text from a file (a dataset line, a damaged results file) made safe to print: control
 * characters become visible escapes (`\x1b`), so a broken line cannot drive the terminal.
 */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
