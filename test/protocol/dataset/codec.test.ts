import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isProtocolError } from '../../../protocol/errors.ts';
import {
  contentHash,
  decodeContent,
  decodeDelta,
  diffContent,
  emptyContent,
  encodeContent,
  encodeDelta,
  normalizeContent,
} from '../../../protocol/dataset/index.ts';
import type { DatasetContent } from '../../../protocol/dataset/types.ts';
import { compareStrings, packTokens } from '../../../protocol/dataset/codec.ts';
import { contentArb, tokenArb } from './arbitraries.ts';
import { applyDelta } from '../../../testkit/dataset-model.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const t = (n: number) => new Uint8Array(16).fill(n);

describe('content codec', () => {
  it('round-trips to the normalised content', () => {
    fc.assert(
      fc.property(contentArb, (c) => {
        expect(decodeContent(encodeContent(c))).toEqual(normalizeContent(c));
      }),
      { numRuns: 200 },
    );
  });

  it('is canonical: entry order does not change the bytes', () => {
    fc.assert(
      fc.property(contentArb, fc.integer(), (c, seed) => {
        const shuffle = <T>(a: T[]) => a.map((x, i) => [((i + 1) * (seed | 1)) % 9973, x] as const).sort((p, q) => p[0] - q[0]).map((p) => p[1]);
        const shuffled: DatasetContent = {
          restricted: shuffle(c.restricted),
          knownGood: shuffle(c.knownGood),
          history: shuffle(c.history).map((h) => ({ ...h, events: shuffle(h.events) })),
          binRules: shuffle(c.binRules),
          prompts: shuffle(c.prompts),
          routes: shuffle(c.routes),
          ...(c.restrictedFilter ? { restrictedFilter: c.restrictedFilter } : {}),
          ...(c.gatewayHealth ? { gatewayHealth: shuffle(c.gatewayHealth) } : {}),
          ...(c.floorLimits ? { floorLimits: { ...c.floorLimits, limits: shuffle(c.floorLimits.limits) } } : {}),
        };
        expect(hex(encodeContent(shuffled))).toBe(hex(encodeContent(c)));
        expect(hex(contentHash(shuffled))).toBe(hex(contentHash(c)));
      }),
      { numRuns: 100 },
    );
  });

  it('packs restricted tokens: 10^4 cards cost ~16 bytes each', () => {
    const c = emptyContent();
    for (let i = 0; i < 10_000; i++) {
      const tok = new Uint8Array(16);
      new DataView(tok.buffer).setUint32(0, i * 2654435761);
      new DataView(tok.buffer).setUint32(4, i);
      c.restricted.push({ token: tok, reason: i % 2 ? 'stolen' : 'fraud' });
    }
    const bytes = encodeContent(c);
    expect(bytes.length).toBeLessThan(10_000 * 16 + 100);
    expect(decodeContent(bytes).restricted.length).toBe(10_000);
  });

  it('rejects duplicates and bad fields with INVALID_FIELD', () => {
    const dup = { ...emptyContent(), restricted: [{ token: t(1), reason: 'a' }, { token: t(1), reason: 'b' }] };
    expect(() => encodeContent(dup)).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    const badTok = { ...emptyContent(), knownGood: [{ token: new Uint8Array(15) }] };
    expect(() => encodeContent(badTok)).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    const badRate = { ...emptyContent(), routes: [{ brand: 'visa', currency: 'USD', gateway: 'g', successRate: 1.5 }] };
    expect(() => encodeContent(badRate)).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    const badPrefix = { ...emptyContent(), binRules: [{ prefix: '123456789', action: 'decline' as const, reason: 'x' }] };
    expect(() => encodeContent(badPrefix)).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
  });
});

describe('canonical CBOR on decode (issue 13 item 8)', () => {
  const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
  const valid = () => {
    const c = emptyContent();
    c.prompts.push({ code: 'abcd', lang: 'en', message: 'Try another card.' });
    c.routes.push({ brand: 'visa', currency: 'USD', gateway: 'gw-a', successRate: 0.75 });
    return encodeContent(c);
  };
  const refused = (h: string) => {
    try {
      decodeContent(fromHex(h));
    } catch (e) {
      return isProtocolError(e) ? e.code : `untyped ${String(e)}`;
    }
    return 'accepted';
  };

  it('a decoded dataset re-encodes to the same bytes: long-form heads and odd floats are refused', () => {
    const h = hexOf(valid());
    expect(refused(h)).toBe('accepted');
    // 0 as 18 00 (the format key), a text head 78 04 for "abcd", a float as 32-bit, 0.75 → 1.0 as a float
    const zeroLong = h.replace(/^(a[0-9a-f])00/, '$11800');
    const textLong = h.replace('6461626364', '780461626364');
    const f64 = new DataView(new ArrayBuffer(8));
    f64.setFloat64(0, 0.75);
    const float64 = `fb${hexOf(new Uint8Array(f64.buffer))}`;
    const f32 = new DataView(new ArrayBuffer(4));
    f32.setFloat32(0, 0.75);
    const float32 = h.replace(float64, `fa${hexOf(new Uint8Array(f32.buffer))}`);
    f64.setFloat64(0, 1);
    const integral = h.replace(float64, `fb${hexOf(new Uint8Array(f64.buffer))}`);
    for (const bad of [zeroLong, textLong, float32, integral]) {
      expect(bad).not.toBe(h);
      expect(refused(bad)).toBe('MALFORMED');
    }
  });
});

describe('token packing', () => {
  it('sorts like Buffer.compare, also when many tokens share a prefix', () => {
    const shared = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ minLength: 14, maxLength: 14 })).map(([p, rest]) => {
      const t = new Uint8Array(16);
      t[0] = 0xab;
      t[1] = p;
      t.set(rest, 2);
      return t;
    });
    fc.assert(
      fc.property(fc.uniqueArray(fc.oneof(tokenArb, shared), { selector: hex, maxLength: 300 }), (tokens) => {
        const packed = packTokens(tokens, 'x');
        const expected = tokens.slice().sort(Buffer.compare).map(hex).join('');
        expect(hex(packed)).toBe(expected);
      }),
      { numRuns: 200 },
    );
    expect(() => packTokens([t(1), t(2), t(1)], 'x')).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
  });
});

describe('deltas', () => {
  it('applyDelta(a, diffContent(a, b)) equals b and has b\'s content hash', () => {
    fc.assert(
      fc.property(contentArb, contentArb, (a, b) => {
        const d = decodeDelta(encodeDelta(diffContent(a, b)));
        const r = applyDelta(a, d);
        expect(r).toEqual(normalizeContent(b));
        expect(hex(contentHash(r))).toBe(hex(contentHash(b)));
      }),
      { numRuns: 200 },
    );
  });

  it('carries only what changed', () => {
    const a = { ...emptyContent(), restricted: [{ token: t(1), reason: 'stolen' }, { token: t(2), reason: 'stolen' }] };
    const b = { ...emptyContent(), restricted: [{ token: t(2), reason: 'fraud' }, { token: t(3), reason: 'stolen' }] };
    const d = diffContent(a, b);
    expect(d.restricted.remove.map(hex)).toEqual([hex(t(1))]);
    expect(d.restricted.upsert.map((r) => [hex(r.token), r.reason])).toEqual([
      [hex(t(2)), 'fraud'],
      [hex(t(3)), 'stolen'],
    ]);
    expect(d.knownGood.upsert).toEqual([]);
  });
});

describe('decoders never throw untyped errors', () => {
  const decoders = { decodeContent, decodeDelta };
  const samples = [encodeContent(fc.sample(contentArb, { numRuns: 1, seed: 42 })[0]), encodeDelta(diffContent(emptyContent(), fc.sample(contentArb, { numRuns: 1, seed: 7 })[0]))];
  for (const [name, decode] of Object.entries(decoders)) {
    it(`${name}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          try {
            decode(bytes);
          } catch (e) {
            expect(isProtocolError(e)).toBe(true);
          }
        }),
        { numRuns: 2000 },
      );
    });
    it(`${name}: mutated valid encodings`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (sample, muts, cut) => {
          const b = new Uint8Array(sample);
          for (const [pos, val] of muts) b[pos % b.length] = val;
          for (const input of [b, b.subarray(0, cut % (b.length + 1))]) {
            try {
              decode(input);
            } catch (e) {
              expect(isProtocolError(e)).toBe(true);
            }
          }
        }),
        { numRuns: 2000 },
      );
    });
  }
  it('refuses CBOR tags and deep nesting', () => {
    // tag 27 (cbor-x would construct an object from a global name)
    const tagged = Buffer.from('d81b8265457272726f726178', 'hex');
    expect(() => decodeContent(tagged)).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
    const deep = Buffer.concat([Buffer.alloc(100, 0x81), Buffer.from([0x00])]);
    expect(() => decodeContent(deep)).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
  });
  it('token arbitrary sanity', () => {
    expect(fc.sample(tokenArb, 1)[0].length).toBe(16);
  });
});

describe('compareStrings', () => {
  it('is UTF-8 byte order for any strings, surrogate pairs and lone surrogates included', () => {
    const sign = (x: number) => (x < 0 ? -1 : x > 0 ? 1 : 0);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 }), (a, b) => {
        expect(sign(compareStrings(a, b))).toBe(sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))));
      }),
      { seed: 424242, numRuns: 2000 },
    );
    expect(compareStrings('\uFFFD', '😀')).toBeLessThan(0); // U+FFFD < U+1F600, though 0xFFFD > 0xD83D as UTF-16
  });
});
