// Typed protocol errors with stable codes. The numeric code travels on the wire (ERROR message,
// HID error packet, BLE error fragment); the name is what logs, the HTTP API and the CLI show.
// Codes, wire numbers, HTTP statuses and exit codes have one home, errors/catalogue.ts (the only
// folder protocol/ imports); ProtocolError is a PrecheckError like every other typed error.
import { WIRE_NUMBERS, type WireCode } from '../errors/catalogue.ts';
import { PrecheckError } from '../errors/precheck-error.ts';

/** Code → wire number (the catalogue's; docs/protocol.md lists them). */
export const ERROR_CODES = WIRE_NUMBERS;

export type ErrorCode = WireCode;

const BY_NUMBER = new Map<number, ErrorCode>(
  Object.entries(ERROR_CODES).map(([k, v]) => [v, k as ErrorCode]),
);

export function errorCodeFromNumber(n: number): ErrorCode {
  return BY_NUMBER.get(n) ?? 'INTERNAL';
}

export class ProtocolError extends PrecheckError<ErrorCode> {
  /** Optional machine-readable detail (field path, expected value...). Never card data. */
  readonly detail?: string;
  constructor(code: ErrorCode, message: string, detail?: string) {
    super(code, message);
    this.name = 'ProtocolError';
    this.detail = detail;
  }
  get numeric(): number {
    return ERROR_CODES[this.code];
  }
}

export function isProtocolError(e: unknown): e is ProtocolError {
  return e instanceof ProtocolError;
}

/** Wrap anything thrown by a library into a ProtocolError so nothing escapes untyped. */
export function asProtocolError(e: unknown, code: ErrorCode = 'INTERNAL'): ProtocolError {
  if (e instanceof ProtocolError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ProtocolError(code, msg);
}
