// Limit-aware CBOR (RFC 8949), the one CBOR module of the project: protocol messages, datasets,
// manifests, fuse filters and firmware images all decode through it.
//
// cbor-x does the actual encoding and decoding (it is fast), but it has no limits on nesting
// depth, string length or container size, and it happily accepts indefinite lengths, tags (its
// tag 27 even constructs objects from global names), floats, duplicate map keys, trailing bytes
// and invalid UTF-8. So every input first goes through `scanCbor`, a small hand-written,
// non-recursive pre-scan that walks the item heads once and rejects anything outside the chosen
// profile before cbor-x allocates a single object. Always:
//
//   - total size <= maxSize                                              (TOO_LARGE)
//   - nesting depth, text/byte string length, array length, map size     (LIMIT_EXCEEDED)
//   - exactly one item, no trailing bytes; definite lengths only; no tags; no simple values but
//     false/true (and null, floats where the profile allows them); every length within the
//     bytes that remain; valid UTF-8 text                                (MALFORMED)
//
// with `deterministic` (datasets, manifests): as `canonical`, plus floats only as encodeCbor
// writes them (64-bit, non-integer);
// and, with `canonical` (messages): shortest-form heads and map keys that are unsigned integers
// in strictly ascending order (so no duplicates), which makes the accepted encoding canonical
// (RFC 8949 §4.2.1 core deterministic encoding for this subset): any accepted input re-encodes
// to the same bytes, which signatures and golden vectors rely on.
//
// Two profiles: MESSAGE_CBOR_PROFILE (strict, the default) and DATASET_CBOR_PROFILE (floats for
// success rates, null for absent event fields, any map keys; the dataset codecs check order and
// types themselves), with decodeDatasetCbor() for the dataset-side limits (size and depth only).

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

/** What the scanner accepts besides the limits. */
export interface CborProfile {
  /** Half, single and double floats. */
  allowFloats: boolean;
  /** The simple value null. */
  allowNull: boolean;
  /** Shortest-form heads, and map keys unsigned integers in strictly ascending order. */
  canonical: boolean;
  /**
   * Shortest-form heads, map keys unsigned integers in strictly ascending order (no duplicates),
   * and floats only as the encoder writes them: 64-bit, never holding an integer value (encodeCbor
   * writes those as integers). With it, what is accepted re-encodes to the same bytes.
   */
  deterministic?: boolean;
}

export type CborOptions = CborLimits & CborProfile;

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

/** Protocol messages: the deterministic subset (the default). */
export const MESSAGE_CBOR_PROFILE: Readonly<CborProfile> = Object.freeze({ allowFloats: false, allowNull: false, canonical: true });

/**
 * Datasets, manifests, filters, firmware images: floats and null allowed; heads, key order and
 * floats deterministic (a dataset re-encodes to the bytes it was decoded from).
 */
export const DATASET_CBOR_PROFILE: Readonly<CborProfile> = Object.freeze({ allowFloats: true, allowNull: true, canonical: false, deterministic: true });

export const DEFAULT_CBOR_OPTIONS: Readonly<CborOptions> = Object.freeze({ ...DEFAULT_CBOR_LIMITS, ...MESSAGE_CBOR_PROFILE });

/** Fill what `options` leaves out from the message defaults. */
export function resolveLimits(options?: Partial<CborOptions>): CborOptions {
  return options ? { ...DEFAULT_CBOR_OPTIONS, ...options } : DEFAULT_CBOR_OPTIONS;
}

/** Dataset-side limits: the whole item and the nesting; counts and lengths are bounded by the size. */
export interface DatasetCborLimits {
  /** Whole encoded item, bytes. */
  maxBytes: number;
  /** Container nesting; a top-level map of scalars has depth 1. */
  maxDepth: number;
}

export function datasetCborOptions(limits: DatasetCborLimits): CborOptions {
  // Infinity: a dataset holds 10^6 tokens in one byte string; every length is still checked
  // against the bytes that remain, so a huge declared count fails as truncated.
  return {
    ...DATASET_CBOR_PROFILE,
    maxSize: limits.maxBytes,
    maxDepth: limits.maxDepth,
    maxTextLength: Infinity,
    maxBytesLength: Infinity,
    maxArrayLength: Infinity,
    maxMapSize: Infinity,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function malformed(msg: string, pos: number): ProtocolError {
  return new ProtocolError('MALFORMED', `CBOR: ${msg} at offset ${pos}`, `offset=${pos}`);
}

function exceeded(what: string, n: number, max: number, pos: number): ProtocolError {
  return new ProtocolError('LIMIT_EXCEEDED', `CBOR: ${what} ${n} over limit ${max} at offset ${pos}`, `offset=${pos}`);
}

/** Bytes after the head for additional information 24..27: an argument, or a float (25..27). */
const ARG_SIZE: Record<number, number> = { 24: 1, 25: 2, 26: 4, 27: 8 };
/** Smallest argument that needs that many bytes (anything smaller has a shorter form). */
const SHORTEST_MIN: Record<number, number> = { 24: 24, 25: 0x100, 26: 0x1_0000, 27: 0x1_0000_0000 };

/**
 * Validate that `bytes` hold exactly one CBOR item inside `options` (profile and limits; the
 * message profile and default limits when absent). Throws ProtocolError (MALFORMED, TOO_LARGE,
 * LIMIT_EXCEEDED); returns nothing on success.
 */
export function scanCbor(bytes: Uint8Array, options: CborOptions = DEFAULT_CBOR_OPTIONS): void {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('MALFORMED', 'CBOR: expected bytes');
  const len = bytes.length;
  if (len > options.maxSize) {
    throw new ProtocolError('TOO_LARGE', `CBOR: ${len} bytes over limit ${options.maxSize}`);
  }
  if (len === 0) throw malformed('empty input', 0);
  const canonical = options.canonical;
  const shortest = canonical || options.deterministic === true;

  // Explicit stack instead of recursion: depth is bounded by options.maxDepth, and a caller that
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

    const keyPosition = shortest && depth > 0 && isMap[depth - 1] && (remaining[depth - 1] & 1) === 0;
    if (keyPosition && major !== 0) throw malformed('map key is not an unsigned integer', start);

    if (major === 7) {
      if (ai === 20 || ai === 21) {
        // false / true
      } else if (ai === 22 && options.allowNull) {
        // null
      } else if (ai >= 25 && ai <= 27) {
        if (!options.allowFloats) throw malformed('floating-point values are not allowed', start);
        if (pos + ARG_SIZE[ai] > len) throw malformed('truncated float', start);
        if (options.deterministic) {
          if (ai !== 27) throw malformed('non-deterministic float (16/32-bit)', start);
          const f = new DataView(bytes.buffer, bytes.byteOffset + pos, 8).getFloat64(0);
          if (Number.isInteger(f)) throw malformed('non-deterministic float (integer value)', start);
        }
        pos += ARG_SIZE[ai];
      } else if (ai === 31) {
        throw malformed('unexpected break', start);
      } else {
        throw malformed('simple value not allowed', start);
      }
    } else {
      // Argument (value or length) in 0, 1, 2, 4 or 8 bytes after the head, big-endian; the
      // shortest form only when canonical. 8-byte values may round above 2^53: they are only
      // compared with limits and keys.
      let arg: number;
      if (ai < 24) {
        arg = ai;
      } else if (ai <= 27) {
        const size = ARG_SIZE[ai];
        if (pos + size > len) throw malformed('truncated', start);
        arg = 0;
        for (let i = 0; i < size; i++) arg = arg * 256 + bytes[pos + i];
        pos += size;
        if (shortest && arg < SHORTEST_MIN[ai]) throw malformed('non-shortest integer head', start);
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
          const max = isText ? options.maxTextLength : options.maxBytesLength;
          if (arg > max) throw exceeded(isText ? 'text length' : 'byte string length', arg, max, start);
          if (pos + arg > len) throw malformed('truncated string', start);
          if (isText) checkUtf8(bytes, pos, pos + arg);
          pos += arg;
          break;
        }
        case 4:
        case 5: {
          const map = major === 5;
          const max = map ? options.maxMapSize : options.maxArrayLength;
          if (arg > max) throw exceeded(map ? 'map size' : 'array length', arg, max, start);
          if (depth + 1 > options.maxDepth) throw exceeded('nesting depth', depth + 1, options.maxDepth, start);
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
// tagUint8Array: false, or cbor-x wraps a plain Uint8Array in tag 64. useFloat32 off (default),
// so floats are written as float64. Maps from JS Map objects, in insertion order, untagged.
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
 * Pre-scan, then decode with cbor-x. `options` defaults to the message profile and limits.
 * Maps come back as `Map`, byte strings as Buffer (a view of `bytes`: copy before keeping),
 * integers at or above 2^32 as bigint. Throws ProtocolError only.
 */
export function decodeCbor(bytes: Uint8Array, options?: Partial<CborOptions>): unknown {
  scanCbor(bytes, resolveLimits(options));
  try {
    return decoder.decode(bytes);
  } catch (e) {
    // Unreachable if the pre-scan is right (the fuzz tests check for this detail); kept so a
    // library exception can never escape.
    throw new ProtocolError('MALFORMED', `CBOR: ${asProtocolError(e).message}`, CBOR_X_REJECTED);
  }
}

/** decodeCbor with the dataset profile: datasets, manifests, fuse filters, firmware images. */
export function decodeDatasetCbor(bytes: Uint8Array, limits: DatasetCborLimits): unknown {
  return decodeCbor(bytes, datasetCborOptions(limits));
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
