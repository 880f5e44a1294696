// What CTAPHID (USB HID) and CTAP-over-BLE share, one codec for both links: the error numbers of
// their ERROR packets/frames and the mapping to and from our error codes (the same numbers on both
// links; only HID has channels, so only HID has INVALID_CHANNEL 0x0b), and the two one-byte
// payloads: KEEPALIVE (1 processing, 2 user presence needed) and ERROR (the error number).
// `link` only names the link in error messages.

import { ProtocolError, type ErrorCode } from '../errors.ts';

/** CTAP error numbers (FIDO CTAP 2.1 §11.2.9.1.6 for HID; §11.4 reuses them for BLE). */
export const CTAP_ERR = {
  INVALID_CMD: 0x01,
  INVALID_PAR: 0x02,
  INVALID_LEN: 0x03,
  INVALID_SEQ: 0x04,
  TIMEOUT: 0x05,
  BUSY: 0x06,
  INVALID_CHANNEL: 0x0b,
  OTHER: 0x7f,
} as const;

const TO_CODE: Record<number, ErrorCode> = {
  [CTAP_ERR.INVALID_CMD]: 'UNSUPPORTED',
  [CTAP_ERR.INVALID_PAR]: 'BAD_FRAME',
  [CTAP_ERR.INVALID_LEN]: 'TOO_LARGE',
  [CTAP_ERR.INVALID_SEQ]: 'BAD_SEQUENCE',
  [CTAP_ERR.TIMEOUT]: 'TIMEOUT',
  [CTAP_ERR.BUSY]: 'BUSY',
  [CTAP_ERR.INVALID_CHANNEL]: 'BAD_CHANNEL',
  [CTAP_ERR.OTHER]: 'INTERNAL',
};

/** Error number received from the peer → our error code (unknown numbers → INTERNAL). */
export function ctapErrorToCode(ctapError: number, hasChannels: boolean): ErrorCode {
  if (ctapError === CTAP_ERR.INVALID_CHANNEL && !hasChannels) return 'INTERNAL';
  return TO_CODE[ctapError] ?? 'INTERNAL';
}

/** Our error code → the error number to send. */
export function codeToCtapError(code: ErrorCode, hasChannels: boolean): number {
  switch (code) {
    case 'UNSUPPORTED':
    case 'UNKNOWN_MESSAGE':
      return CTAP_ERR.INVALID_CMD;
    case 'BAD_FRAME':
    case 'MALFORMED':
    case 'INVALID_FIELD':
      return CTAP_ERR.INVALID_PAR;
    case 'TOO_LARGE':
      return CTAP_ERR.INVALID_LEN;
    case 'BAD_SEQUENCE':
      return CTAP_ERR.INVALID_SEQ;
    case 'TIMEOUT':
      return CTAP_ERR.TIMEOUT;
    case 'BUSY':
      return CTAP_ERR.BUSY;
    case 'BAD_CHANNEL':
      return hasChannels ? CTAP_ERR.INVALID_CHANNEL : CTAP_ERR.OTHER;
    default:
      return CTAP_ERR.OTHER;
  }
}

export const CTAP_KEEPALIVE = { PROCESSING: 1, UP_NEEDED: 2 } as const;
export type CtapKeepaliveStatus = (typeof CTAP_KEEPALIVE)[keyof typeof CTAP_KEEPALIVE];

export function encodeKeepalivePayload(link: string, status: number): Uint8Array {
  if (status !== CTAP_KEEPALIVE.PROCESSING && status !== CTAP_KEEPALIVE.UP_NEEDED) {
    throw new ProtocolError('INVALID_FIELD', `${link} KEEPALIVE status must be 1 or 2`, String(status));
  }
  return Uint8Array.of(status);
}

export function decodeKeepalivePayload(link: string, payload: Uint8Array): CtapKeepaliveStatus {
  if (payload.length !== 1) throw new ProtocolError('BAD_FRAME', `${link} KEEPALIVE carries one byte`, String(payload.length));
  const s = payload[0];
  if (s !== CTAP_KEEPALIVE.PROCESSING && s !== CTAP_KEEPALIVE.UP_NEEDED) {
    throw new ProtocolError('INVALID_FIELD', `${link} KEEPALIVE status unknown`, String(s));
  }
  return s;
}

/** ERROR payload → the peer's error number and the ProtocolError it maps to. */
export function decodeErrorPayload(link: string, payload: Uint8Array, hasChannels: boolean): { ctapError: number; error: ProtocolError } {
  if (payload.length !== 1) throw new ProtocolError('BAD_FRAME', `${link} ERROR carries one byte`, String(payload.length));
  const ctapError = payload[0];
  return {
    ctapError,
    error: new ProtocolError(ctapErrorToCode(ctapError, hasChannels), `device reported ${link} error 0x${ctapError.toString(16).padStart(2, '0')}`),
  };
}
