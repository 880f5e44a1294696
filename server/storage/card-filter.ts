// Which cards and orders the store may know, in memory: a Bloom filter over every card token in
// `restricted`, `known_good` and `outcomes`, and every (merchant, order id) in `outcomes`. It never
// says "absent" for a key it was given, and wrongly says "maybe" for a few in a thousand others.
// SqliteStorage answers /v1/auth for a card and order it has never seen (most requests: new cards)
// without its probe statement when the filter says "absent" for both; "maybe" runs the statement,
// which has the exact answer (expiry, merchant, removed rows). Nothing is ever taken out: a removed
// or expired row only costs its probe until the next rebuild.
// Written here rather than taken from a Bloom filter package: those hash a string or Buffer per
// key, while here the token's own bytes are mixed in place (two 32-bit hashes, MurmurHash3's
// finaliser shared with the dataset's fuse filter) and the filter is sized after one pass over
// the tables (keys held as hash pairs, no count statement).

import { fmix32 } from '../../protocol/dataset/fuse-filter.ts';

/** Hash functions per key. */
const K = 4;
/** Bits per key a filter is built with at least (then ~0.3 % false "maybe"), and at most before it asks to be rebuilt (~2.4 %). */
const BUILD_BITS_PER_KEY = 24;
const FULL_BITS_PER_KEY = 8;
const MIN_BITS = 1 << 20;
const MAX_BITS = 2 ** 31;

/**
 * The keys of a filter being read from the tables, as hash pairs (8 bytes a key, for the read
 * only): the filter's size is known once they are all there, so no count of the tables is needed.
 */
export class CardKeys {
  private pairs = new Uint32Array(2 * 65_536);
  private n = 0;

  get size(): number {
    return this.n;
  }

  addToken(token: Uint8Array): void {
    const [h1, h2] = tokenHashes(token);
    this.push(h1, h2);
  }

  /** A token as the 32 hex digits SQLite's hex() gives (upper or lower case). */
  addTokenHex(hex: string): void {
    const [h1, h2] = tokenHashes(hexBytes(hex));
    this.push(h1, h2);
  }

  addOrder(merchant: string, orderId: string): void {
    const [h1, h2] = orderHashes(merchant, orderId);
    this.push(h1, h2);
  }

  /** A filter holding every key added. */
  filter(): CardFilter {
    const f = new CardFilter(this.n);
    for (let i = 0; i < 2 * this.n; i += 2) f.set(this.pairs[i], this.pairs[i + 1]);
    return f;
  }

  private push(h1: number, h2: number): void {
    if (2 * this.n + 2 > this.pairs.length) {
      const grown = new Uint32Array(this.pairs.length * 2);
      grown.set(this.pairs);
      this.pairs = grown;
    }
    this.pairs[2 * this.n] = h1;
    this.pairs[2 * this.n + 1] = h2;
    this.n++;
  }
}

export class CardFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  /** Keys added (with repeats: an upper bound of the distinct keys). */
  private n = 0;

  /** @param expectedKeys keys it will hold soon (sized for BUILD_BITS_PER_KEY each, room to grow 3×) */
  constructor(expectedKeys: number) {
    let m = MIN_BITS;
    while (m < expectedKeys * BUILD_BITS_PER_KEY && m < MAX_BITS) m *= 2;
    this.bits = new Uint32Array(m / 32);
    this.mask = m - 1;
  }

  /** Added more keys than it was sized for: answers stay right, but "maybe" grows; build a bigger one. */
  get full(): boolean {
    return this.n * FULL_BITS_PER_KEY > this.mask + 1;
  }

  /** Size in bytes (operations: memory). */
  get bytes(): number {
    return this.bits.byteLength;
  }

  addToken(token: Uint8Array): void {
    const [h1, h2] = tokenHashes(token);
    this.set(h1, h2);
  }

  mayHaveToken(token: Uint8Array): boolean {
    const [h1, h2] = tokenHashes(token);
    return this.test(h1, h2);
  }

  addOrder(merchant: string, orderId: string): void {
    const [h1, h2] = orderHashes(merchant, orderId);
    this.set(h1, h2);
  }

  mayHaveOrder(merchant: string, orderId: string): boolean {
    const [h1, h2] = orderHashes(merchant, orderId);
    return this.test(h1, h2);
  }

  /** @internal a key by its hash pair (CardKeys.filter) */
  set(h1: number, h2: number): void {
    this.n++;
    for (let i = 0; i < K; i++) {
      const b = (h1 + Math.imul(i, h2)) & this.mask;
      this.bits[b >>> 5] |= 1 << (b & 31);
    }
  }

  private test(h1: number, h2: number): boolean {
    for (let i = 0; i < K; i++) {
      const b = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.bits[b >>> 5] & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}

const scratch = new Uint8Array(16);
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[65 + i] = HEX[97 + i] = 10 + i;

/** 32 hex digits as 16 bytes, in a scratch array (no Buffer made per row). */
function hexBytes(hex: string): Uint8Array {
  if (hex.length !== 32) return Uint8Array.from(Buffer.from(hex, 'hex')); // not a token this service makes; hashed all the same
  for (let i = 0; i < 16; i++) scratch[i] = (HEX[hex.charCodeAt(2 * i) & 127] << 4) | HEX[hex.charCodeAt(2 * i + 1) & 127];
  return scratch;
}

const hashes: [number, number] = [0, 0];

/**
 * Two 32-bit hashes of a token. Tokens are keyed hashes of card numbers (uniform bits), but a
 * caller may send any 16 bytes: the words are mixed anyway, so chosen tokens cost probes, nothing else.
 */
function tokenHashes(t: Uint8Array): [number, number] {
  let a = 0x9e3779b9;
  let b = 0x85ebca6b;
  for (let i = 0; i < t.length; i++) {
    a = Math.imul(a ^ t[i], 0x01000193);
    b = Math.imul(b ^ t[i], 0x5bd1e995) ^ (b >>> 15);
  }
  hashes[0] = fmix32(a);
  hashes[1] = fmix32(b) | 1;
  return hashes;
}

/** Two 32-bit hashes of merchant + NUL + order id (over the UTF-16 units), in one pass. */
function orderHashes(merchant: string, orderId: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < merchant.length; i++) {
    const c = merchant.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  a = Math.imul(a, 0x01000193); // the separator (NUL): "ab"+"c" and "a"+"bc" differ
  b = Math.imul(b, 0x5bd1e995) ^ (b >>> 15);
  for (let i = 0; i < orderId.length; i++) {
    const c = orderId.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  hashes[0] = fmix32(a);
  hashes[1] = fmix32(b) | 1;
  return hashes;
}
