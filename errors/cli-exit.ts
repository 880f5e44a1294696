// How a failure leaves the CLI: one line and a stable exit code (docs/operations.md lists them).
// Every part's commands throw CliError or a coded error; cli/program.ts turns it into the exit.

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

// Exit codes (documented in docs/operations.md). The one place errors become exit codes.
export const EXIT = {
  OK: 0,
  FAILURE: 1, // generic failure
  USAGE: 2, // bad arguments or config
  UNAVAILABLE: 3, // a service, port or device could not be reached
  PARTIAL: 4, // some devices failed (sync)
  REFUSED: 5, // security refusal: identity mismatch, bad signature, pairing rejected
} as const;

const REFUSAL_CODES = new Set([
  'IDENTITY_MISMATCH',
  'SIGNATURE_INVALID',
  'PAIRING_REJECTED',
  'NOT_PAIRED',
  'HANDSHAKE_FAILED',
  'FIRMWARE_INVALID',
]);
const UNAVAILABLE_CODES = new Set(['TIMEOUT', 'DISCONNECTED', 'BUSY', 'EADDRINUSE', 'ECONNREFUSED', 'ENOENT', 'BLUETOOTH_UNAVAILABLE', 'HID_UNAVAILABLE', 'SERIAL_UNAVAILABLE', 'SOCKET_UNAVAILABLE', 'NETWORK_UNAVAILABLE']);

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (REFUSAL_CODES.has(code)) return EXIT.REFUSED;
    if (UNAVAILABLE_CODES.has(code)) return EXIT.UNAVAILABLE;
    if (code === 'INVALID_FIELD' || code === 'BAD_REQUEST' || code === 'CONFIG_INVALID') return EXIT.USAGE;
  }
  return EXIT.FAILURE;
}

export function errorLine(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !(err instanceof CliError) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
