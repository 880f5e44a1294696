// Limit-aware CBOR (RFC 8949) for protocol messages.
//
// cbor-x does the actual encoding and decoding (it is fast), but it has no limits on nesting
// depth, string length or container size, and it happily accepts indefinite lengths, tags,
// floats, duplicate map keys, trailing bytes and invalid UTF-8. So every input first goes through
// `scanCbor`, a small hand-written, non-recursive pre-scan that walks the item heads once and
// rejects anything outside the protocol's profile before cbor-x allocates a single object:
//
//   - total size <= maxSize                                              (TOO_LARGE)
//   - nesting depth, text/byte string length, array length, map size     (LIMIT_EXCEEDED)
//   - exactly one item, no trailing bytes; definite lengths only; no tags; no floats; no simple
//     values other than false/true; shortest-form heads; valid UTF-8 text; map keys unsigned
//     integers in strictly ascending order (so no duplicates)           (MALFORMED)
//
// The last rules make the accepted encoding canonical (RFC 8949 §4.2.1 core deterministic
// encoding for this subset): any accepted input re-encodes to the same bytes, which signatures
// and golden vectors rely on.

import { Decoder, Encoder } from 'cbor-x';
import { ProtocolError, asProtocolError } from './errors.ts';

export interface CborLimits {
  /** Whole encoded item, bytes. */
  maxSize: number;
  /** Container nesting; a top-level map of scalars has depth 1. */
  maxDepth: number;
  /** Text string length in UTF-8 bytes. */
  maxTextLength: number;
  /** Byte string length. */
  maxBytesLength: number;
  /** Array items. */
  maxArrayLength: number;
  /** Map entries (key/value pairs). */
  maxMapSize: number;
}

// maxBytesLength equals maxSize on purpose: the SECURE envelope carries a whole encrypted inner
// message (a 4096-byte chunk + its envelope + a 16-byte tag) as one byte string, so a smaller
// generic limit would cap the inner message. Each field's own limit lives in the catalogue.
export const DEFAULT_CBOR_LIMITS: Readonly<CborLimits> = Object.freeze({
  maxSize: 8192,
  maxDepth: 4,
  maxTextLength: 1024,
  maxBytesLength: 8192,
  maxArrayLength: 64,
  maxMapSize: 32,
});

export function resolveLimits(limits?: Partial<CborLimits>): CborLimits {
  return limits ? { ...DEFAULT_CBOR_LIMITS, ...limits } : DEFAULT_CBOR_LIMITS;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function malformed(msg: string, pos: number): ProtocolError {
  return new ProtocolError('MALFORMED', `CBOR: ${msg} at offset ${pos}`, `offset=${pos}`);
}

function exceeded(what: string, n: number, max: number, pos: number): ProtocolError {
  return new ProtocolError('LIMIT_EXCEEDED', `CBOR: ${what} ${n} over limit ${max} at offset ${pos}`, `offset=${pos}`);
}

/**
 * Validate that `bytes` hold exactly one CBOR item inside the protocol profile and `limits`.
 * Throws ProtocolError (MALFORMED, TOO_LARGE, LIMIT_EXCEEDED); returns nothing on success.
 */
export function scanCbor(bytes: Uint8Array, limits: CborLimits = DEFAULT_CBOR_LIMITS): void {
  const len = bytes.length;
  if (len > limits.maxSize) {
    throw new ProtocolError('TOO_LARGE', `CBOR: ${len} bytes over limit ${limits.maxSize}`);
  }
  if (len === 0) throw malformed('empty input', 0);

  // Explicit stack instead of recursion: depth is bounded by limits.maxDepth, and a caller that
  // raises it must not be able to blow the JS stack.
  const remaining: number[] = []; // items still to read in each open container
  const isMap: boolean[] = [];
  const lastKey: number[] = [];
  let depth = 0;
  let pos = 0;

  for (;;) {
    const start = pos;
    if (pos >= len) throw malformed('truncated', pos);
    const ib = bytes[pos++];
    const major = ib >> 5;
    const ai = ib & 0x1f;

    const keyPosition = depth > 0 && isMap[depth - 1] && (remaining[depth - 1] & 1) === 0;
    if (keyPosition && major !== 0) throw malformed('map key is not an unsigned integer', start);

    if (major === 7) {
      if (ai === 20 || ai === 21) {
        // false / true
      } else if (ai >= 25 && ai <= 27) {
        throw malformed('floating-point values are not allowed', start);
      } else if (ai === 31) {
        throw malformed('unexpected break', start);
      } else {
        throw malformed('simple value not allowed', start);
      }
    } else {
      // Argument (value or length), shortest form only.
      let arg: number;
      if (ai < 24) {
        arg = ai;
      } else if (ai === 24) {
        if (pos + 1 > len) throw malformed('truncated', start);
        arg = bytes[pos];
        pos += 1;
        if (arg < 24) throw malformed('non-shortest integer head', start);
      } else if (ai === 25) {
        if (pos + 2 > len) throw malformed('truncated', start);
        arg = (bytes[pos] << 8) | bytes[pos + 1];
        pos += 2;
        if (arg < 0x100) throw malformed('non-shortest integer head', start);
      } else if (ai === 26) {
        if (pos + 4 > len) throw malformed('truncated', start);
        arg = ((bytes[pos] << 24) >>> 0) + ((bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]);
        pos += 4;
        if (arg < 0x10000) throw malformed('non-shortest integer head', start);
      } else if (ai === 27) {
        if (pos + 8 > len) throw malformed('truncated', start);
        const hi = ((bytes[pos] << 24) >>> 0) + ((bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]);
        const lo = ((bytes[pos + 4] << 24) >>> 0) + ((bytes[pos + 5] << 16) | (bytes[pos + 6] << 8) | bytes[pos + 7]);
        pos += 8;
        if (hi === 0) throw malformed('non-shortest integer head', start);
        arg = hi * 0x1_0000_0000 + lo; // may round above 2^53; only used for comparisons
      } else if (ai === 31) {
        throw malformed('indefinite length not allowed', start);
      } else {
        throw malformed('reserved additional information', start);
      }

      switch (major) {
        case 0:
          if (keyPosition) {
            if (lastKey[depth - 1] >= arg) {
              throw malformed('map keys not in strictly ascending order', start);
            }
            lastKey[depth - 1] = arg;
          }
          break;
        case 1:
          break;
        case 2:
        case 3: {
          const isText = major === 3;
          const max = isText ? limits.maxTextLength : limits.maxBytesLength;
          if (arg > max) throw exceeded(isText ? 'text length' : 'byte string length', arg, max, start);
          if (pos + arg > len) throw malformed('truncated string', start);
          if (isText) checkUtf8(bytes, pos, pos + arg);
          pos += arg;
          break;
        }
        case 4:
        case 5: {
          const map = major === 5;
          const max = map ? limits.maxMapSize : limits.maxArrayLength;
          if (arg > max) throw exceeded(map ? 'map size' : 'array length', arg, max, start);
          if (depth + 1 > limits.maxDepth) throw exceeded('nesting depth', depth + 1, limits.maxDepth, start);
          // Every item takes at least one byte: a cheap early reject of absurd counts.
          if (arg * (map ? 2 : 1) > len - pos) throw malformed('truncated container', start);
          if (arg > 0) {
            remaining[depth] = map ? arg * 2 : arg;
            isMap[depth] = map;
            lastKey[depth] = -1;
            depth++;
            continue; // its first item is next; the container completes when its count hits 0
          }
          break;
        }
        case 6:
          throw malformed('tags are not allowed', start);
      }
    }

    // One item completed: count it against the open containers, closing those that are full.
    while (depth > 0) {
      if (--remaining[depth - 1] > 0) break;
      depth--;
    }
    if (depth === 0) break;
  }

  if (pos !== len) throw malformed(`${len - pos} trailing bytes`, pos);
}

function checkUtf8(bytes: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if (bytes[i] >= 0x80) {
      try {
        utf8.decode(bytes.subarray(from, to));
      } catch {
        throw malformed('invalid UTF-8 in text string', from);
      }
      return;
    }
  }
}

// Integer-keyed maps must come back as Map, byte strings as bytes, with no record extension.
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
// tagUint8Array: false, or cbor-x wraps a plain Uint8Array in tag 64. useFloat32 off (default).
const encoder = new Encoder({
  mapsAsObjects: false,
  useRecords: false,
  variableMapSize: true,
  tagUint8Array: false,
  pack: false,
});

/** `detail` of the error thrown when cbor-x itself rejects input that passed the pre-scan. */
export const CBOR_X_REJECTED = 'cbor-x';

/**
 * Pre-scan, then decode with cbor-x. Maps come back as `Map`, byte strings as Buffer (a view of
 * `bytes`: copy before keeping), integers at or above 2^32 as bigint. Throws ProtocolError only.
 */
export function decodeCbor(bytes: Uint8Array, limits?: Partial<CborLimits>): unknown {
  scanCbor(bytes, resolveLimits(limits));
  try {
    return decoder.decode(bytes);
  } catch (e) {
    // Unreachable if the pre-scan is right (the fuzz tests check for this detail); kept so a
    // library exception can never escape.
    throw new ProtocolError('MALFORMED', `CBOR: ${asProtocolError(e).message}`, CBOR_X_REJECTED);
  }
}

/**
 * Encode with cbor-x. For deterministic output pass Maps with unsigned integer keys inserted in
 * ascending order, integers >= 2^32 as bigint (cbor-x writes large numbers as float64), byte
 * strings as Uint8Array, and no floats. The message codec does all of that.
 */
export function encodeCbor(value: unknown): Uint8Array {
  try {
    // Copy out of cbor-x's shared output buffer into a plain Uint8Array.
    return new Uint8Array(encoder.encode(value));
  } catch (e) {
    throw asProtocolError(e, 'INTERNAL');
  }
}
