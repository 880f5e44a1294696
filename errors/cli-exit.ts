// How a failure leaves the CLI: one line and a stable exit code (docs/operations.md lists them).
// Every part's commands throw CliError or a coded error; cli/program.ts turns it into the exit.
import { exitCodeOf } from './catalogue.ts';
import { EXIT } from './exit-codes.ts';
import { codeOf } from './precheck-error.ts';

/** A failure the CLI reports as one line and a stable exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

// Exit codes (documented in docs/operations.md); each error code's exit code is in the catalogue.
export { EXIT, type ExitCode } from './exit-codes.ts';

/** The one place a failure becomes an exit code: CliError's own, else its code's in the catalogue. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  const code = codeOf(err);
  return code === undefined ? EXIT.FAILURE : exitCodeOf(code);
}

export function errorLine(err: unknown): string {
  if (err instanceof Error) {
    const code = codeOf(err);
    return code !== undefined && !(err instanceof CliError) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
