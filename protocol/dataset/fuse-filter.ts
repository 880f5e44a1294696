// Binary fuse filter (3-wise, 8-bit fingerprints) over card tokens: ~9 bits per restricted card
// and ~0.4% false positives, after Graf & Lemire, "Binary Fuse Filters: Fast and Smaller Than Xor
// Filters" (ACM JEA 2022) and their reference C implementation (binaryfusefilter.h): the same
// segment layout, size factor and peeling construction. Hand-written because no listed package
// provides one. The hash differs from the reference (tokens are already uniform HMAC outputs, so
// a 32-bit murmur3 finaliser over the token words and a seed suffices and stays in exact 32-bit
// JS integer arithmetic), so filters are not byte-compatible with other implementations.
//
// Use: a filter hit says "possibly restricted" — the caller confirms it exactly (network) and
// never declines on a hit alone; a miss is certain (no false negatives).
//
// Encoding: CBOR map {1: seed (u32), 2: segmentLength (power of two, 4..262144),
// 3: segmentCount (≥ 1), 4: fingerprints (bytes, (segmentCount + 2) × segmentLength)}.
import { ProtocolError } from '../errors.ts';
import { decodeDatasetCbor, encodeCbor } from '../cbor.ts';
import { TOKEN_BYTES } from './token.ts';

export interface FuseFilter {
  seed: number;
  segmentLength: number;
  segmentCount: number;
  fingerprints: Uint8Array;
}

const ARITY = 3;
const MAX_SEGMENT_LENGTH = 262144;
/** 2^26 entries (≈ 75 MB of fingerprints) is far beyond any device. */
export const MAX_FILTER_BYTES = 80 * 1024 * 1024;
const MAX_ATTEMPTS = 64;

/** MurmurHash3's finaliser: every input bit moves every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function word(t: Uint8Array, o: number): number {
  return (t[o] | (t[o + 1] << 8) | (t[o + 2] << 16) | (t[o + 3] << 24)) >>> 0;
}

/** floor(a × m / 2^32) exactly, for a < 2^32 and m < 2^27 (no 64-bit integers needed). */
function mulhi32(a: number, m: number): number {
  const hi = (a >>> 16) * m;
  const lo = (a & 0xffff) * m;
  return Math.floor((hi + Math.floor(lo / 65536)) / 65536);
}

interface Layout {
  segmentLength: number;
  segmentCount: number;
  arrayLength: number;
}

/** Sizes from the reference implementation (3-wise). */
export function fuseLayout(size: number): Layout {
  let segmentLength = size === 0 ? 4 : 1 << Math.floor(Math.log(size) / Math.log(3.33) + 2.25);
  if (segmentLength > MAX_SEGMENT_LENGTH) segmentLength = MAX_SEGMENT_LENGTH;
  const sizeFactor = size <= 1 ? 0 : Math.max(1.125, 0.875 + (0.25 * Math.log(1e6)) / Math.log(size));
  const capacity = size <= 1 ? 0 : Math.round(size * sizeFactor);
  const segmentCount = Math.max(1, Math.ceil(capacity / segmentLength) - (ARITY - 1));
  return { segmentLength, segmentCount, arrayLength: (segmentCount + ARITY - 1) * segmentLength };
}

/** The three slots and the fingerprint of a token under a filter's parameters. */
function slots(t: Uint8Array, o: number, seed: number, segmentLength: number, segmentCountLength: number, out: Uint32Array): number {
  const a = fmix32(word(t, o) ^ seed);
  const b = fmix32(word(t, o + 4) ^ a ^ 0x9e3779b9);
  const c = fmix32(word(t, o + 8) ^ b);
  const d = fmix32(word(t, o + 12) ^ c ^ seed);
  const mask = segmentLength - 1;
  const h0 = mulhi32(a, segmentCountLength);
  out[0] = h0;
  out[1] = (h0 + segmentLength) ^ (b & mask);
  out[2] = (h0 + 2 * segmentLength) ^ (c & mask);
  return d & 0xff;
}

/**
 * Build a filter for distinct tokens (a packed buffer of 16-byte tokens, or an array). Deterministic:
 * the same tokens give the same bytes. Throws INVALID_FIELD on duplicates.
 */
export function buildFuseFilter(tokens: Uint8Array | Uint8Array[]): FuseFilter {
  let packed: Uint8Array;
  if (Array.isArray(tokens)) {
    packed = new Uint8Array(tokens.length * TOKEN_BYTES);
    tokens.forEach((t, i) => {
      if (!(t instanceof Uint8Array) || t.length !== TOKEN_BYTES) throw new ProtocolError('INVALID_FIELD', 'filter keys must be 16-byte tokens', 'tokens');
      packed.set(t, i * TOKEN_BYTES);
    });
  } else {
    if (tokens.length % TOKEN_BYTES !== 0) throw new ProtocolError('INVALID_FIELD', 'packed tokens expected', 'tokens');
    packed = tokens;
  }
  const n = packed.length / TOKEN_BYTES;
  const { segmentLength, segmentCount, arrayLength } = fuseLayout(n);
  const scl = segmentCount * segmentLength;
  const H = new Uint32Array(n * 3);
  const FP = new Uint8Array(n);
  const tmp = new Uint32Array(3);
  const count = new Uint32Array(arrayLength);
  const xorKey = new Uint32Array(arrayLength);
  const queue = new Uint32Array(arrayLength);
  const stackKey = new Uint32Array(n);
  const stackPos = new Uint32Array(n);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const seed = fmix32(0x5bd1e995 + attempt);
    count.fill(0);
    xorKey.fill(0);
    for (let k = 0; k < n; k++) {
      FP[k] = slots(packed, k * TOKEN_BYTES, seed, segmentLength, scl, tmp);
      for (let j = 0; j < 3; j++) {
        const p = tmp[j];
        H[k * 3 + j] = p;
        count[p]++;
        xorKey[p] ^= k;
      }
    }
    let qn = 0;
    for (let p = 0; p < arrayLength; p++) if (count[p] === 1) queue[qn++] = p;
    let top = 0;
    while (qn > 0) {
      const pos = queue[--qn];
      if (count[pos] !== 1) continue;
      const k = xorKey[pos];
      stackKey[top] = k;
      stackPos[top] = pos;
      top++;
      for (let j = 0; j < 3; j++) {
        const p = H[k * 3 + j];
        count[p]--;
        xorKey[p] ^= k;
        if (count[p] === 1) queue[qn++] = p;
      }
    }
    if (top !== n) continue; // a cycle (or duplicate keys): try another seed
    const F = new Uint8Array(arrayLength);
    for (let i = top - 1; i >= 0; i--) {
      const k = stackKey[i];
      F[stackPos[i]] = FP[k] ^ F[H[k * 3]] ^ F[H[k * 3 + 1]] ^ F[H[k * 3 + 2]];
    }
    return { seed, segmentLength, segmentCount, fingerprints: F };
  }
  throw new ProtocolError('INVALID_FIELD', 'could not build the filter (duplicate tokens?)', 'tokens');
}

/** True for every token the filter was built from; for others with probability ~1/256. */
export function fuseFilterContains(f: FuseFilter, token: Uint8Array): boolean {
  if (!(token instanceof Uint8Array) || token.length !== TOKEN_BYTES) return false;
  const tmp = new Uint32Array(3);
  const fp = slots(token, 0, f.seed, f.segmentLength, f.segmentCount * f.segmentLength, tmp);
  const F = f.fingerprints;
  return (fp ^ F[tmp[0]] ^ F[tmp[1]] ^ F[tmp[2]]) === 0;
}

export function checkFuseFilter(f: unknown, field = 'filter'): FuseFilter {
  const bad = (why: string): never => {
    throw new ProtocolError('INVALID_FIELD', `${field}: ${why}`, field);
  };
  if (typeof f !== 'object' || f === null) bad('object expected');
  const { seed, segmentLength, segmentCount, fingerprints } = f as Record<string, unknown>;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) bad('seed must be a u32');
  if (typeof segmentLength !== 'number' || !Number.isInteger(segmentLength) || segmentLength < 4 || segmentLength > MAX_SEGMENT_LENGTH || (segmentLength & (segmentLength - 1)) !== 0) {
    bad('segmentLength must be a power of two 4..262144');
  }
  if (typeof segmentCount !== 'number' || !Number.isInteger(segmentCount) || segmentCount < 1) bad('segmentCount must be ≥ 1');
  const len = ((segmentCount as number) + ARITY - 1) * (segmentLength as number);
  if (len > MAX_FILTER_BYTES) bad('too large');
  if (!(fingerprints instanceof Uint8Array) || fingerprints.length !== len) bad(`fingerprints must be ${len} bytes`);
  return { seed: seed as number, segmentLength: segmentLength as number, segmentCount: segmentCount as number, fingerprints: fingerprints as Uint8Array };
}

export function encodeFuseFilter(f: FuseFilter): Uint8Array {
  const c = checkFuseFilter(f);
  return encodeCbor(new Map<number, unknown>([[1, c.seed], [2, c.segmentLength], [3, c.segmentCount], [4, c.fingerprints]]));
}

/** The CBOR value (a Map) as found inside a dataset, or encoded bytes. */
export function fuseFilterFromCbor(v: unknown, field = 'filter'): FuseFilter {
  if (!(v instanceof Map) || v.size !== 4) throw new ProtocolError('INVALID_FIELD', `${field}: CBOR map {1..4} expected`, field);
  const fp = v.get(4);
  return checkFuseFilter({ seed: v.get(1), segmentLength: v.get(2), segmentCount: v.get(3), fingerprints: fp instanceof Uint8Array ? new Uint8Array(fp) : fp }, field);
}

export function fuseFilterToCbor(f: FuseFilter): Map<number, unknown> {
  const c = checkFuseFilter(f);
  return new Map<number, unknown>([[1, c.seed], [2, c.segmentLength], [3, c.segmentCount], [4, c.fingerprints]]);
}

export function decodeFuseFilter(bytes: Uint8Array): FuseFilter {
  return fuseFilterFromCbor(decodeDatasetCbor(bytes, { maxBytes: MAX_FILTER_BYTES + 64, maxDepth: 1 }));
}

/** Bits of filter per entry. */
export function fuseBitsPerEntry(f: FuseFilter, entries: number): number {
  return entries === 0 ? 0 : (f.fingerprints.length * 8) / entries;
}
