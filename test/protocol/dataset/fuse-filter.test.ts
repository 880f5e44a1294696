import crypto from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isProtocolError } from '../../../protocol/errors.ts';
import {
  buildFuseFilter,
  decodeFuseFilter,
  encodeFuseFilter,
  fuseBitsPerEntry,
  fuseFilterContains,
} from '../../../protocol/dataset/fuse-filter.ts';
import { tokenArb } from './arbitraries.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** Deterministic pseudo-random tokens (the test must not depend on luck). */
const tokenN = (i: number, salt = 'k') => new Uint8Array(crypto.createHash('sha256').update(`${salt}${i}`).digest().subarray(0, 16));

describe('binary fuse filter', () => {
  it('has no false negatives', () => {
    fc.assert(
      fc.property(fc.uniqueArray(tokenArb, { selector: hex, maxLength: 500 }), (tokens) => {
        const f = buildFuseFilter(tokens);
        for (const t of tokens) expect(fuseFilterContains(f, t)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('at 10^5 cards: about 9.5 bits per card and ~0.4% false positives', () => {
    const n = 100_000;
    const packed = new Uint8Array(n * 16);
    for (let i = 0; i < n; i++) packed.set(tokenN(i), i * 16);
    const f = buildFuseFilter(packed);
    expect(fuseBitsPerEntry(f, n)).toBeLessThan(9.6);
    let fp = 0;
    const m = 100_000;
    for (let i = 0; i < m; i++) if (fuseFilterContains(f, tokenN(i, 'q'))) fp++;
    // expected 1/256 = 0.39%; bounds far outside sampling noise (sd ≈ 0.02%)
    expect(fp / m).toBeGreaterThan(0.002);
    expect(fp / m).toBeLessThan(0.006);
  });

  it('is deterministic and round-trips through its encoding', () => {
    const tokens = Array.from({ length: 1000 }, (_, i) => tokenN(i));
    const a = encodeFuseFilter(buildFuseFilter(tokens));
    const b = encodeFuseFilter(buildFuseFilter(tokens));
    expect(hex(a)).toBe(hex(b));
    const back = decodeFuseFilter(a);
    expect(tokens.every((t) => fuseFilterContains(back, t))).toBe(true);
  });

  it('refuses duplicate keys and bad encodings with typed errors', () => {
    expect(() => buildFuseFilter([tokenN(1), tokenN(2), tokenN(1)])).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    const good = encodeFuseFilter(buildFuseFilter([tokenN(1), tokenN(2)]));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (rand, pos, val) => {
        const mutated = new Uint8Array(good);
        mutated[pos % mutated.length] ^= val;
        for (const input of [rand, mutated]) {
          try {
            const f = decodeFuseFilter(input);
            fuseFilterContains(f, tokenN(3));
          } catch (e) {
            expect(isProtocolError(e)).toBe(true);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
