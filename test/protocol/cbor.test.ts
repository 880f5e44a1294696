import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CBOR_X_REJECTED, DEFAULT_CBOR_LIMITS, decodeCbor, decodeDatasetCbor, encodeCbor, scanCbor, type CborLimits } from '../../protocol/cbor.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { codeOf as errorCode } from './error-code.ts';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The ProtocolError's code, or 'OK' when `f` returns. */
const codeOf = (f: () => unknown): string => errorCode(f) ?? 'OK';

/** cbor-x output -> the form encodeCbor takes back (plain bytes; bigint stays bigint). */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, normalize(x)]));
  return v;
}

// Values inside the protocol profile: integer-keyed maps, arrays, text, bytes, ints, bools.
const leaf = fc.oneof(
  fc.integer({ min: 0, max: 0xffff_ffff }),
  fc.integer({ min: -0x8000_0000, max: -1 }),
  fc.bigInt({ min: 2n ** 32n, max: 2n ** 64n - 1n }),
  fc.boolean(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }),
);
const { value: profileValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .uniqueArray(fc.tuple(fc.integer({ min: 0, max: 300 }), tie('value')), { selector: ([k]) => k, maxLength: 5 })
      .map((entries) => new Map(entries.sort(([a], [b]) => a - b))),
  ),
}));

/** Random bytes, or the encoding of a value from `values` with one byte overwritten. */
function randomOrMutated(values: fc.Arbitrary<unknown>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 24 }),
    fc.tuple(values, fc.nat(), fc.nat(255)).map(([v, i, b]) => {
      const bytes = encodeCbor(v);
      bytes[i % bytes.length] = b;
      return bytes;
    }),
  );
}

function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v instanceof Map) return 1 + Math.max(0, ...[...v.values()].map(depthOf));
  return 0;
}

describe('scanCbor / decodeCbor', () => {
  it('accepts every profile value cbor-x encodes, decodes it back, and the bytes are canonical', () => {
    fc.assert(
      fc.property(profileValue, (v) => {
        fc.pre(depthOf(v) <= DEFAULT_CBOR_LIMITS.maxDepth);
        const bytes = encodeCbor(v);
        expect(codeOf(() => scanCbor(bytes))).toBe('OK');
        const back = normalize(decodeCbor(bytes));
        expect(back).toEqual(normalize(v));
        expect(toHex(encodeCbor(back))).toBe(toHex(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('anything it accepts re-encodes to the same bytes (random and mutated input)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        randomOrMutated(profileValue),
        (bytes) => {
          let v: unknown;
          try {
            v = decodeCbor(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
            expect((e as ProtocolError).detail).not.toBe(CBOR_X_REJECTED); // the pre-scan caught it first
            return;
          }
          accepted++;
          expect(toHex(encodeCbor(normalize(v)))).toBe(toHex(bytes));
        },
      ),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(100); // the property was not vacuous
  });

  describe('each limit: at the limit passes, one over fails', () => {
    const L = (over: Partial<CborLimits>) => ({ ...DEFAULT_CBOR_LIMITS, ...over });
    const cases: [string, (n: number) => unknown, keyof CborLimits, string][] = [
      ['text length', (n) => 'x'.repeat(n), 'maxTextLength', 'LIMIT_EXCEEDED'],
      ['byte string length', (n) => new Uint8Array(n), 'maxBytesLength', 'LIMIT_EXCEEDED'],
      ['array length', (n) => Array(n).fill(0), 'maxArrayLength', 'LIMIT_EXCEEDED'],
      ['map size', (n) => new Map(Array.from({ length: n }, (_, i) => [i, 0])), 'maxMapSize', 'LIMIT_EXCEEDED'],
      ['nesting depth', (n) => Array.from({ length: n - 1 }).reduce<unknown>((acc) => [acc], [0]), 'maxDepth', 'LIMIT_EXCEEDED'],
      ['total size', (n) => new Uint8Array(n - 3), 'maxSize', 'TOO_LARGE'], // 3-byte head for 256..65535
    ];
    for (const [what, make, key, code] of cases) {
      it(what, () => {
        const limit = key === 'maxSize' ? 1000 : key === 'maxDepth' ? 4 : 40;
        expect(codeOf(() => decodeCbor(encodeCbor(make(limit)), L({ [key]: limit })))).toBe('OK');
        expect(codeOf(() => decodeCbor(encodeCbor(make(limit + 1)), L({ [key]: limit })))).toBe(code);
      });
    }

    it('defaults allow a 4096-byte chunk inside a message', () => {
      expect(codeOf(() => decodeCbor(encodeCbor(new Map<number, unknown>([[0, 1], [2, new Uint8Array(4096)]]))))).toBe('OK');
    });
  });

  it('a deep nesting attack fails fast on the limit, whatever the depth', () => {
    const deep = new Uint8Array(8000).fill(0x81);
    expect(codeOf(() => decodeCbor(deep))).toBe('LIMIT_EXCEEDED');
    expect(codeOf(() => decodeCbor(deep, { maxDepth: 100_000 }))).toBe('MALFORMED'); // truncated, no stack overflow
  });

  it('a huge declared count is rejected before anything is allocated', () => {
    expect(codeOf(() => decodeCbor(hex('9b 0000000100000000'), { maxArrayLength: 2 ** 40 }))).toBe('MALFORMED');
    expect(codeOf(() => decodeCbor(hex('9b 0000000100000000')))).toBe('LIMIT_EXCEEDED');
  });

  it('rejects what cbor-x would silently accept', () => {
    const cases: [string, string][] = [
      ['a20001 0002', 'duplicate keys'],
      ['62 c328', 'invalid UTF-8'],
      ['00 00', 'trailing bytes'],
      ['9f 00 ff', 'indefinite array'],
      ['c1 1a 5f000000', 'tagged epoch time'],
      ['fb 3ff0000000000000', 'float64'],
      ['f8 20', 'simple value 32'],
      ['ff', 'lone break'],
      ['1900 10', 'non-shortest uint16'],
      ['1b 00000000 ffffffff', 'non-shortest uint64'],
      ['a1 20 00', 'negative map key'],
    ];
    for (const [h, what] of cases) expect(codeOf(() => decodeCbor(hex(h))), what).toBe('MALFORMED');
  });

  it('encodeCbor returns an independent plain Uint8Array', () => {
    const a = encodeCbor('first');
    const copy = toHex(a);
    encodeCbor('second, longer value that would reuse a shared buffer');
    expect(toHex(a)).toBe(copy);
    expect(Object.getPrototypeOf(a)).toBe(Uint8Array.prototype);
  });
});

// The same scanner with the dataset profile (datasets, manifests, filters, firmware images).
describe('decodeDatasetCbor: the dataset profile of the one scanner', () => {
  const DS = { maxBytes: 4096, maxDepth: 4 };
  const { value: datasetValue } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.constant(null),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
      fc.array(tie('value'), { maxLength: 5 }),
      // unsigned integer keys in ascending order: what the dataset codecs write (deterministic)
      fc
        .uniqueArray(fc.tuple(fc.integer({ min: 0, max: 300 }), tie('value')), { selector: ([k]) => k, maxLength: 5 })
        .map((entries) => new Map(entries.sort((x, y) => x[0] - y[0]))),
    ),
  }));

  it('decodes every dataset-profile value back to itself', () => {
    fc.assert(
      fc.property(datasetValue, (v) => {
        fc.pre(depthOf(v) <= DS.maxDepth);
        expect(normalize(decodeDatasetCbor(encodeCbor(v), DS))).toEqual(normalize(v));
      }),
      { numRuns: 500 },
    );
  });

  it('random and mutated input: a value or a ProtocolError the pre-scan raised, nothing else', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        randomOrMutated(datasetValue),
        (bytes) => {
          try {
            decodeDatasetCbor(bytes, DS);
            accepted++;
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
            expect((e as ProtocolError).detail).not.toBe(CBOR_X_REJECTED);
          }
        },
      ),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('allows floats and null, which the message profile refuses', () => {
    const cases: [string, unknown][] = [
      ['fb 3fee147ae147ae14', 0.94], // float64, a route's success rate
      ['f6', null],
    ];
    for (const [h, want] of cases) {
      expect(decodeDatasetCbor(hex(h), DS), h).toEqual(want);
      expect(codeOf(() => decodeCbor(hex(h))), h).toBe('MALFORMED');
    }
  });

  it('refuses what would not re-encode to the same bytes: long-form heads, short or integral floats', () => {
    // ...and maps whose keys are not unsigned integers in strictly ascending order (a duplicate key
    // would be dropped on decode, and the dataset re-encoded smaller)
    for (const h of ['1900 10', '18 00', '78 04 61626364', '5801 00', '9800', 'b800', 'f9 3c00', 'fa 3f400000', 'fb 3ff0000000000000', 'a2 02 61 62 01 61 61', 'a1 61 6b 00', 'a2 01 00 01 00']) {
      expect(codeOf(() => decodeDatasetCbor(hex(h), DS)), h).toBe('MALFORMED');
    }
  });

  it('still refuses tags, indefinite lengths, undefined, invalid UTF-8, truncation and trailing bytes', () => {
    const cases: [string, string][] = [
      ['d8 1b 82 61 61 00', 'tag 27 (constructs objects from global names in cbor-x)'],
      ['c1 1a 5f000000', 'tagged epoch time'],
      ['9f 00 ff', 'indefinite array'],
      ['f7', 'undefined'],
      ['f8 20', 'simple value 32'],
      ['62 c328', 'invalid UTF-8'],
      ['fb 3ff0', 'truncated float'],
      ['00 00', 'trailing bytes'],
      ['', 'empty'],
    ];
    for (const [h, what] of cases) expect(codeOf(() => decodeDatasetCbor(hex(h), DS)), what).toBe('MALFORMED');
  });

  it('size and depth are the only limits: long arrays and strings pass, a huge declared count is truncated input', () => {
    const big = { maxBytes: 200_000, maxDepth: 2 };
    expect(codeOf(() => decodeDatasetCbor(encodeCbor(new Map([[1, Array(10_000).fill(0)]])), big))).toBe('OK');
    expect(codeOf(() => decodeDatasetCbor(encodeCbor('x'.repeat(5000)), big))).toBe('OK');
    expect(codeOf(() => decodeDatasetCbor(hex('9b 0000000100000000'), big))).toBe('MALFORMED');
    expect(codeOf(() => decodeDatasetCbor(new Uint8Array(4097), DS))).toBe('TOO_LARGE');
    expect(codeOf(() => decodeDatasetCbor(encodeCbor([[1]]), { maxBytes: 100, maxDepth: 2 }))).toBe('OK');
    expect(codeOf(() => decodeDatasetCbor(encodeCbor([[[1]]]), { maxBytes: 100, maxDepth: 2 }))).toBe('LIMIT_EXCEEDED');
    expect(codeOf(() => decodeDatasetCbor(new Uint8Array(8000).fill(0x81), { maxBytes: 8000, maxDepth: 100_000 }))).toBe('MALFORMED');
  });

  it('the profile options are independent: a message-limit decode can allow floats alone', () => {
    const float = hex('fb 3fee147ae147ae14');
    expect(decodeCbor(float, { allowFloats: true })).toBe(0.94);
    expect(codeOf(() => decodeCbor(hex('f6'), { allowFloats: true }))).toBe('MALFORMED');
    expect(decodeCbor(hex('f6'), { allowNull: true })).toBe(null);
    expect(codeOf(() => decodeCbor(hex('1900 10'), { allowFloats: true, allowNull: true }))).toBe('MALFORMED');
    expect(decodeCbor(hex('1900 10'), { canonical: false })).toBe(16);
    expect(codeOf(() => scanCbor('not bytes' as unknown as Uint8Array))).toBe('MALFORMED');
  });
});
