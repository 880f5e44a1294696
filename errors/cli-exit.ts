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

/**
 * A command that called a running bridge got an error answer (`precheck verify|outcome|devices|
 * pair|status`): bad input or key → USAGE, bridge or device unavailable/timed out → UNAVAILABLE,
 * a code the catalogue calls a security refusal (NOT_PAIRED, IDENTITY_MISMATCH, PAIRING_REJECTED,
 * SIGNATURE_INVALID, …) → REFUSED, as when the command meets it itself; anything else FAILURE.
 */
export function exitCodeForBridgeAnswer(status: number, code: string): number {
  if (status === 400 || status === 422 || status === 401) return EXIT.USAGE;
  if (status === 503 || status === 504) return EXIT.UNAVAILABLE;
  if (exitCodeOf(code) === EXIT.REFUSED) return EXIT.REFUSED;
  return EXIT.FAILURE;
}

/**
 * `precheck sync` got an error answer from the bridge's POST /v1/sync without a sync report:
 * a refused token → USAGE, no service configured or a service/bridge unavailable → UNAVAILABLE.
 */
export function exitCodeForSyncAnswer(status: number): number {
  if (status === 401) return EXIT.USAGE;
  if (status === 501 || status >= 503) return EXIT.UNAVAILABLE;
  return EXIT.FAILURE;
}

export function errorLine(err: unknown): string {
  if (err instanceof Error) {
    const code = codeOf(err);
    return code !== undefined && !(err instanceof CliError) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
