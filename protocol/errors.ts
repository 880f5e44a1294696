// Typed protocol errors with stable codes. The numeric code travels on the wire (ERROR message,
// HID error packet, BLE error fragment); the name is what logs, the HTTP API and the CLI show.
// host-bridge/ and server/ map these names to HTTP statuses and exit codes in one place each.

export const ERROR_CODES = {
  // decoding and limits
  MALFORMED: 0x01, // bytes are not a valid CBOR item / frame
  TOO_LARGE: 0x02, // message or frame exceeds its size limit
  LIMIT_EXCEEDED: 0x03, // nesting depth, string, array or map length over its limit
  UNKNOWN_MESSAGE: 0x04, // message type not in the catalogue
  INVALID_FIELD: 0x05, // missing, unknown or wrongly typed field
  // framing
  BAD_FRAME: 0x10, // framing violation (bad header, wrong length, wrong command)
  BAD_CRC: 0x11,
  BAD_SEQUENCE: 0x12, // continuation/fragment out of order
  BAD_CHANNEL: 0x13,
  BUSY: 0x14, // another exchange is in progress on this device/channel
  TIMEOUT: 0x15,
  CANCELLED: 0x16,
  DISCONNECTED: 0x17,
  // sessions and pairing
  NOT_PAIRED: 0x20,
  PAIRING_REJECTED: 0x21,
  PAIRING_FULL: 0x22,
  HANDSHAKE_FAILED: 0x23,
  DECRYPT_FAILED: 0x24,
  REPLAY: 0x25, // nonce not strictly greater than the last accepted one
  NO_SESSION: 0x26,
  IDENTITY_MISMATCH: 0x27, // peer static key differs from the pinned one
  // datasets and firmware
  SIGNATURE_INVALID: 0x30,
  DATASET_OLDER: 0x31, // not strictly newer than the active version (no rollback)
  DATASET_EXPIRED: 0x32, // past its expiry (no freeze)
  CHUNK_HASH: 0x33,
  SYNC_STATE: 0x34, // chunk/commit without begin, wrong base version, ...
  FIRMWARE_INVALID: 0x35,
  TRANSFER_OWNED: 0x36, // another host's dataset/firmware transfer is in progress and recently active
  // everything else
  UNSUPPORTED: 0x40,
  INTERNAL: 0x7f,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const BY_NUMBER = new Map<number, ErrorCode>(
  Object.entries(ERROR_CODES).map(([k, v]) => [v, k as ErrorCode]),
);

export function errorCodeFromNumber(n: number): ErrorCode {
  return BY_NUMBER.get(n) ?? 'INTERNAL';
}

export class ProtocolError extends Error {
  readonly code: ErrorCode;
  /** Optional machine-readable detail (field path, expected value...). Never card data. */
  readonly detail?: string;
  constructor(code: ErrorCode, message: string, detail?: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
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
