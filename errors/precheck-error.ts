// The one base class of Precheck's typed errors: a stable `code` from the catalogue
// (errors/catalogue.ts) and a message built without card or request data. Every typed error
// extends it: the parts' (ServiceError, SyncError, ApiError, …), ProtocolError (protocol/),
// LinkUnavailableError (link-io/) and the contracts' ContractError and AmountError.
import { type ErrorCode, errorSpec } from './catalogue.ts';

export class PrecheckError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PrecheckError';
    this.code = code;
  }
}

export function isPrecheckError(e: unknown): e is PrecheckError {
  return e instanceof PrecheckError;
}

/** The string code of anything thrown (ours, Node's system errors, libraries'), or undefined. */
export function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * Whether an API may return this error's own message: one of our typed errors whose code the
 * catalogue marks safe. Anything else (a library's message could quote the request, and with it
 * a card number) gets a generic message.
 */
export function isEchoable(e: unknown): e is { code: ErrorCode; message: string } {
  if (!(e instanceof PrecheckError)) return false;
  return errorSpec(e.code)?.safe === true;
}
