// Card tokens: the only form in which a card number leaves the device (or the server's admin
// import path). token = first 16 bytes of HMAC-SHA-256(cardKey, "precheck/token/v1:" + digits).
// Formatting (spaces, dashes) is stripped first so "4111 1111 1111 1111" and "4111111111111111"
// give the same token.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';

export const TOKEN_BYTES = 16;
export const TOKEN_DOMAIN = 'precheck/token/v1:';
/** Card keys are 32 random bytes; shorter keys would weaken the keyed hash. */
export const CARD_KEY_BYTES = 32;

/** Digits of a PAN with separators removed. Throws INVALID_FIELD (without the PAN) if not 12–19 digits. */
export function panDigits(pan: string): string {
  if (typeof pan !== 'string') throw new ProtocolError('INVALID_FIELD', 'card number must be a string', 'pan');
  const digits = pan.replace(/[\s-]/g, '');
  if (!/^[0-9]{12,19}$/.test(digits)) {
    throw new ProtocolError('INVALID_FIELD', 'card number must be 12 to 19 digits', 'pan');
  }
  return digits;
}

export function cardToken(cardKey: Uint8Array, pan: string): Uint8Array {
  if (!(cardKey instanceof Uint8Array) || cardKey.length < 16) {
    throw new ProtocolError('INVALID_FIELD', 'card key must be at least 16 bytes', 'cardKey');
  }
  const mac = crypto.createHmac('sha256', cardKey).update(TOKEN_DOMAIN + panDigits(pan), 'utf8').digest();
  return new Uint8Array(mac.subarray(0, TOKEN_BYTES));
}

export function tokenHex(token: Uint8Array): string {
  return Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('hex');
}

export function parseTokenHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !/^[0-9a-f]{32}$/.test(hex)) {
    throw new ProtocolError('INVALID_FIELD', 'token must be 32 lowercase hex characters', 'token');
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/**
 * BIN as shown in logs and sent to the server: always the first 6 digits, whatever the PAN
 * length (PCI DSS allows first 6 + last 4 to be displayed for every length; 8-digit BINs would
 * exceed that for PANs shorter than 16 digits, so one rule for all keeps it simple).
 */
export function panBin(pan: string): string {
  return panDigits(pan).slice(0, 6);
}

export function panLast4(pan: string): string {
  return panDigits(pan).slice(-4);
}

/** "411111******1111": BIN, one '*' per hidden digit, last four. */
export function maskPan(pan: string): string {
  const d = panDigits(pan);
  return d.slice(0, 6) + '*'.repeat(d.length - 10) + d.slice(-4);
}

/** Byte order of token i of packed buffer `a` and token j of packed buffer `b` (TOKEN_BYTES each). */
export function compareTokensAt(a: Uint8Array, i: number, b: Uint8Array, j: number): number {
  const x = i * TOKEN_BYTES;
  const y = j * TOKEN_BYTES;
  for (let k = 0; k < TOKEN_BYTES; k++) {
    const d = a[x + k] - b[y + k];
    if (d !== 0) return d;
  }
  return 0;
}
