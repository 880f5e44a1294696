import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ProtocolError } from '../../protocol/errors.ts';
import {
  CATALOGUE,
  DECISIONS,
  MESSAGE_TYPES,
  MessageDecodeError,
  RESPONSES,
  decodeInner,
  decodeMessage,
  encodeMessage,
  errorFromMessage,
  errorMessage,
  expectResponse,
  type Message,
  type MessageName,
  type VerifyReq,
} from '../../protocol/messages/index.ts';
import { renderMessageIndex, renderMessageTables } from '../../protocol/messages/describe.ts';
import { MESSAGE_NAMES_LIST, anyMessageArb, messageArbOf } from './messages-arbitraries.ts';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const BIG = { maxSize: 1 << 16 }; // lets worst-case random messages (16 long VERIFY_RES) round-trip

function decodeFor(name: MessageName, bytes: Uint8Array, limits?: { maxSize: number }): Message {
  return CATALOGUE[name].scope === 'inner' ? decodeInner(bytes, limits) : decodeMessage(bytes, limits);
}

function thrown(f: () => unknown): ProtocolError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error('expected a ProtocolError, nothing was thrown');
}

// Not a real card number: fails the Luhn check. Built, so no digit run sits in the source.
const PAN = `4${'0'.repeat(14)}1`;
const verifyReq: VerifyReq = {
  type: 'VERIFY_REQ',
  id: 42,
  pan: PAN,
  expMonth: 12,
  expYear: 2030,
  amount: 1999,
  currency: 'EUR',
  country: 'DE',
};

describe('catalogue', () => {
  it('has unique wire numbers, responses with bit 7 set, and the brief numbering', () => {
    const codes = Object.values(MESSAGE_TYPES);
    expect(new Set(codes).size).toBe(codes.length);
    expect(MESSAGE_TYPES).toMatchObject({ INFO_REQ: 0x01, INFO_RES: 0x81, SECURE: 0x07, VERIFY_REQ: 0x10, VERIFY_RES: 0x90, ERROR: 0xff, ACK: 0xa3, UNPAIR: 0x40 });
    for (const [req, responses] of Object.entries(RESPONSES)) {
      expect(MESSAGE_TYPES[req as MessageName] & 0x80, req).toBe(0);
      for (const r of responses) expect(MESSAGE_TYPES[r as MessageName] & 0x80, r).toBe(0x80);
    }
    expect(DECISIONS).toEqual(['approve', 'decline', 'review', 'escalate']);
  });
});

describe('round trip (property, every message type)', () => {
  for (const name of MESSAGE_NAMES_LIST) {
    it(name, () => {
      fc.assert(
        fc.property(messageArbOf(name), (m) => {
          const bytes = encodeMessage(m, BIG.maxSize);
          const back = decodeFor(name, bytes, BIG);
          expect(back).toEqual(m);
          // Deterministic: the decoded message re-encodes to the very same bytes.
          expect(toHex(encodeMessage(back, BIG.maxSize))).toBe(toHex(bytes));
          // The default size limit is enforced symmetrically on both sides.
          if (bytes.length > 8192) {
            expect(thrown(() => encodeMessage(m)).code).toBe('TOO_LARGE');
            expect(thrown(() => decodeFor(name, bytes)).code).toBe('TOO_LARGE');
          } else {
            expect(decodeFor(name, encodeMessage(m))).toEqual(m);
          }
        }),
        { numRuns: 150 },
      );
    });
  }

  it('encoding does not depend on property order', () => {
    fc.assert(
      fc.property(anyMessageArb, (m) => {
        const reversed = Object.fromEntries(Object.entries(m).reverse()) as Message;
        expect(toHex(encodeMessage(reversed, BIG.maxSize))).toBe(toHex(encodeMessage(m, BIG.maxSize)));
      }),
      { numRuns: 300 },
    );
  });

  it('decoded byte strings are plain copies, not views of the input', () => {
    const input = encodeMessage({ type: 'PAIR_INIT', id: 1, noise: new Uint8Array([1, 2, 3]) });
    const m = decodeMessage(input);
    if (m.type !== 'PAIR_INIT') throw new Error('type');
    input.fill(0);
    expect(m.noise).toEqual(new Uint8Array([1, 2, 3]));
    expect(Object.getPrototypeOf(m.noise)).toBe(Uint8Array.prototype);
  });
});

describe('golden bytes', () => {
  it('INFO_REQ', () => {
    expect(toHex(encodeMessage({ type: 'INFO_REQ', id: 1 }))).toBe('a200010101');
  });

  it('VERIFY_REQ', () => {
    // prettier-ignore
    const golden = hex([
      'a8',                                     // map(8)
      '00 10',                                  // 0: type 0x10 VERIFY_REQ
      '01 18 2a',                               // 1: id 42
      '02 70 34 30 30 30 30 30 30 30 30 30 30 30 30 30 30 31', // 2: pan, text(16)
      '03 0c',                                  // 3: expMonth 12
      '04 19 07 ee',                            // 4: expYear 2030
      '05 19 07 cf',                            // 5: amount 1999
      '06 63 45 55 52',                         // 6: currency "EUR"
      '07 62 44 45',                            // 7: country "DE"
    ].join(''));
    expect(toHex(encodeMessage(verifyReq))).toBe(toHex(golden));
    expect(decodeInner(golden)).toEqual(verifyReq);
  });

  it('ERROR', () => {
    const bytes = hex('a4 00 18ff 01 07 02 05 03 63 626164');
    expect(encodeMessage({ type: 'ERROR', id: 7, code: ERROR_CODES.INVALID_FIELD, message: 'bad' })).toEqual(bytes);
    expect(decodeMessage(bytes)).toEqual({ type: 'ERROR', id: 7, code: 5, message: 'bad' });
  });

  it('SYNC_STATE with a uint32 id', () => {
    const bytes = hex('a5 00 18a0 01 1affffffff 02 07 03 00 04 19012c');
    const m = { type: 'SYNC_STATE', id: 0xffff_ffff, version: 7, nextChunk: 0, totalChunks: 300 } as const;
    expect(encodeMessage(m)).toEqual(bytes);
    expect(decodeInner(bytes)).toEqual(m);
  });

  it('SECURE with a 64-bit nonce (uint64, never a float)', () => {
    const bytes = hex(`a4 00 07 01 03 02 1b0000000100000000 03 50 ${'aa'.repeat(16)}`);
    const m = { type: 'SECURE', id: 3, nonce: 2 ** 32, ciphertext: new Uint8Array(16).fill(0xaa) } as const;
    expect(encodeMessage(m)).toEqual(bytes);
    expect(decodeMessage(bytes)).toEqual(m);
  });

  it('VERIFY_BATCH_RES nests bodies with the same keys', () => {
    const m: Message = {
      type: 'VERIFY_BATCH_RES',
      id: 1,
      items: [{ decision: 1, reason: 'r', token: new Uint8Array(16), bin: '400000', last4: '0001', datasetVersion: 9 }],
    };
    const bytes = hex(`a3 00 1891 01 01 02 81 a6 02 01 03 6172 07 50 ${'00'.repeat(16)} 08 66 343030303030 09 64 30303031 0b 09`);
    expect(encodeMessage(m)).toEqual(bytes);
    expect(decodeInner(bytes)).toEqual(m);
  });
});

describe('decode rejections', () => {
  const cases: [string, string, string, 'inner'?][] = [
    ['unknown key', 'a3 00 01 01 01 02 00', 'INVALID_FIELD'],
    ['missing required key', 'a2 00 1884 01 01', 'INVALID_FIELD'],
    ['wrong type (text for uint8)', 'a3 00 1884 01 01 02 61 31', 'INVALID_FIELD'],
    ['value out of range (pair state 3)', 'a3 00 1884 01 01 02 03', 'INVALID_FIELD'],
    ['bool expected', 'a3 00 04 01 01 02 01', 'INVALID_FIELD'],
    ['bytes of the wrong fixed length', `a3 00 1840 01 01 02 58 1f ${'00'.repeat(31)}`, 'INVALID_FIELD', 'inner'],
    ['negative integer', 'a3 00 1884 01 01 02 20', 'INVALID_FIELD'],
    ['uint above 2^53-1', `a4 00 07 01 01 02 1b0020000000000000 03 50 ${'00'.repeat(16)}`, 'INVALID_FIELD'],
    ['id above uint32', 'a2 00 01 01 1b0000000100000000', 'INVALID_FIELD'],
    ['missing id', 'a1 00 01', 'INVALID_FIELD'],
    ['missing type', 'a1 01 01', 'INVALID_FIELD'],
    ['unknown type', 'a2 00 187f 01 01', 'UNKNOWN_MESSAGE'],
    ['not a map', '82 00 01', 'MALFORMED'],
    ['trailing bytes', 'a2 00 01 01 01 00', 'MALFORMED'],
    ['two items', 'a2 00 01 01 01 a2 00 01 01 01', 'MALFORMED'],
    ['truncated', 'a2 00 01 01', 'MALFORMED'],
    ['truncated string', 'a3 00 02 01 01 02 45 0102', 'MALFORMED'],
    ['indefinite-length map', 'bf 00 01 01 01 ff', 'MALFORMED'],
    ['indefinite-length bytes', 'a3 00 02 01 01 02 5f 41 00 ff', 'MALFORMED'],
    ['indefinite-length array', 'a3 00 11 01 01 02 9f ff', 'MALFORMED'],
    ['tag on the message', 'c0 a2 00 01 01 01', 'MALFORMED'],
    ['tag 64 on bytes', 'a3 00 02 01 01 02 d8 40 41 00', 'MALFORMED'],
    ['float value', 'a3 00 1884 01 01 02 f9 3c00', 'MALFORMED'],
    ['null value', 'a3 00 1884 01 01 02 f6', 'MALFORMED'],
    ['undefined value', 'a3 00 1884 01 01 02 f7', 'MALFORMED'],
    ['non-shortest integer', 'a2 00 1801 01 01', 'MALFORMED'],
    ['non-shortest length', 'a3 00 02 01 01 02 5801 00', 'MALFORMED'],
    ['keys out of order', 'a2 01 01 00 01', 'MALFORMED'],
    ['duplicate key', 'a3 00 01 01 01 01 02', 'MALFORMED'],
    ['text key', 'a3 00 01 01 01 61 61 00', 'MALFORMED'],
    ['invalid UTF-8', 'a4 00 18ff 01 01 02 05 03 62 c328', 'MALFORMED'],
    ['UTF-8 encoded surrogate', 'a4 00 18ff 01 01 02 05 03 63 eda080', 'MALFORMED'],
    ['reserved additional info', 'a2 00 1c 01 01', 'MALFORMED'],
    ['empty input', '', 'MALFORMED'],
    ['too deep', 'a3 00 01 01 01 02 81 81 81 81 00', 'LIMIT_EXCEEDED'],
    ['array over limit', `a3 00 11 01 01 02 98 41 ${'00'.repeat(65)}`, 'LIMIT_EXCEEDED'],
    ['map over limit', `b8 21 ${Array.from({ length: 33 }, (_, i) => (i < 24 ? i.toString(16).padStart(2, '0') : `18${i.toString(16)}`) + '00').join('')}`, 'LIMIT_EXCEEDED'],
    ['huge declared length', 'a3 00 02 01 01 02 5b 0000000100000000', 'LIMIT_EXCEEDED'],
  ];
  for (const [what, h, code, inner] of cases) {
    it(`${what} -> ${code}`, () => {
      const e = thrown(() => (inner ? decodeInner(hex(h)) : decodeMessage(hex(h))));
      expect(e.code).toBe(code);
      expect(e).toBeInstanceOf(MessageDecodeError);
    });
  }

  it('text over the field limit -> INVALID_FIELD, over the CBOR limit -> LIMIT_EXCEEDED', () => {
    const err = (n: number) => ({ type: 'ERROR', id: 1, code: 1, message: 'x'.repeat(n) }) as const;
    expect(decodeMessage(encodeMessage(err(256)))).toEqual(err(256));
    const over = hex(`a4 00 18ff 01 01 02 01 03 790101 ${'78'.repeat(257)}`);
    const huge = hex(`a4 00 18ff 01 01 02 01 03 7904 01 ${'78'.repeat(1025)}`);
    expect(thrown(() => decodeMessage(huge)).code).toBe('LIMIT_EXCEEDED');
  });

  it('whole message over maxSize -> TOO_LARGE (and the limit is configurable)', () => {
    const chunk = { type: 'SYNC_CHUNK', id: 1, version: 1, index: 0, data: new Uint8Array(4096) } as const;
    const bytes = encodeMessage(chunk);
    expect(decodeInner(bytes)).toEqual(chunk);
    expect(thrown(() => decodeInner(bytes, { maxSize: 4096 })).code).toBe('TOO_LARGE');
    expect(thrown(() => decodeMessage(new Uint8Array(8193))).code).toBe('TOO_LARGE');
  });

  it('depth limit is configurable: a batch needs depth 3', () => {
    const { type: _t, id: _i, ...item } = verifyReq;
    const batch = encodeMessage({ type: 'VERIFY_BATCH_REQ', id: 1, items: [item] });
    expect(decodeInner(batch).type).toBe('VERIFY_BATCH_REQ');
    expect(thrown(() => decodeInner(batch, { maxDepth: 2 })).code).toBe('LIMIT_EXCEEDED');
  });

  it('inner messages are refused outside a session, plaintext ones inside', () => {
    const e = thrown(() => decodeMessage(encodeMessage(verifyReq)));
    expect(e.code).toBe('NO_SESSION');
    expect((e as MessageDecodeError).requestId).toBe(42);
    expect((e as MessageDecodeError).messageType).toBe(0x10);
    expect(thrown(() => decodeInner(encodeMessage({ type: 'PAIR_INIT', id: 1, noise: new Uint8Array(32) }))).code).toBe('UNKNOWN_MESSAGE');
    // STATUS and ERROR are valid in both places.
    expect(decodeInner(encodeMessage({ type: 'STATUS_REQ', id: 5 }))).toEqual({ type: 'STATUS_REQ', id: 5 });
    expect(decodeMessage(encodeMessage({ type: 'STATUS_REQ', id: 5 }))).toEqual({ type: 'STATUS_REQ', id: 5 });
  });

  it('errors carry the request id when it could be read, and name the field', () => {
    const e = thrown(() => decodeMessage(hex('a3 00 1884 01 18 63 02 03'))) as MessageDecodeError;
    expect(e.requestId).toBe(0x63);
    expect(e.detail).toBe('PAIR_STATUS.state');
    expect(e.message).toContain('PAIR_STATUS.state');
    const e2 = thrown(() => decodeMessage(hex('a2 00 01 01'))) as MessageDecodeError;
    expect(e2.requestId).toBeUndefined();
  });

  it('a bad card number is named, never quoted', () => {
    const bad = toHex(encodeMessage(verifyReq)).replace(`70${Buffer.from(PAN).toString('hex')}`, `74${Buffer.from(`${PAN}9999`).toString('hex')}`);
    const e = thrown(() => decodeInner(hex(bad)));
    expect(e.code).toBe('INVALID_FIELD');
    expect(e.detail).toBe('VERIFY_REQ.pan');
    expect(e.message).not.toMatch(/\d{6}/);
    const nested = thrown(() =>
      encodeMessage({ type: 'VERIFY_BATCH_REQ', id: 1, items: [{ pan: PAN, expMonth: 1, expYear: 2030, amount: 1, currency: 'EUR' }, { pan: PAN.replace(/(\d{4})(?!$)/g, '$1-'), expMonth: 1, expYear: 2030, amount: 1, currency: 'EUR' }] }),
    );
    expect(nested.detail).toBe('VERIFY_BATCH_REQ.items[1].pan');
    expect(nested.message).not.toContain('4000');
  });

  it('accepts 2^53-1 as a uint (uint64 on the wire)', () => {
    const m = { type: 'SECURE', id: 1, nonce: Number.MAX_SAFE_INTEGER, ciphertext: new Uint8Array(16) } as const;
    const bytes = encodeMessage(m);
    expect(toHex(bytes)).toContain('1b001fffffffffffff');
    expect(decodeMessage(bytes)).toEqual(m);
  });
});

describe('encode validation', () => {
  const bad: [string, unknown, string][] = [
    ['unknown type', { type: 'NOPE', id: 1 }, 'UNKNOWN_MESSAGE'],
    ['prototype name as type', { type: 'toString', id: 1 }, 'UNKNOWN_MESSAGE'],
    ['id not uint32', { type: 'INFO_REQ', id: 2 ** 32 }, 'INVALID_FIELD'],
    ['id not integer', { type: 'INFO_REQ', id: 1.5 }, 'INVALID_FIELD'],
    ['unknown property', { type: 'INFO_REQ', id: 1, extra: 1 }, 'INVALID_FIELD'],
    ['missing field', { type: 'PAIR_STATUS', id: 1 }, 'INVALID_FIELD'],
    ['out of range', { type: 'PAIR_STATUS', id: 1, state: 3 }, 'INVALID_FIELD'],
    ['float', { type: 'SYNC_DONE', id: 1, activeVersion: 1.5 }, 'INVALID_FIELD'],
    ['NaN', { type: 'SYNC_DONE', id: 1, activeVersion: NaN }, 'INVALID_FIELD'],
    ['negative', { type: 'SYNC_DONE', id: 1, activeVersion: -1 }, 'INVALID_FIELD'],
    ['unsafe integer', { type: 'SECURE', id: 1, nonce: 2 ** 53, ciphertext: new Uint8Array(16) }, 'INVALID_FIELD'],
    ['string for bytes', { type: 'PAIR_INIT', id: 1, noise: 'abc' }, 'INVALID_FIELD'],
    ['ciphertext shorter than a tag', { type: 'SECURE', id: 1, nonce: 0, ciphertext: new Uint8Array(15) }, 'INVALID_FIELD'],
    ['pattern', { ...verifyReq, currency: 'eur' }, 'INVALID_FIELD'],
    ['month 13', { ...verifyReq, expMonth: 13 }, 'INVALID_FIELD'],
    ['lone surrogate', { type: 'ERROR', id: 1, code: 1, message: 'a\uD800b' }, 'INVALID_FIELD'],
    ['empty batch', { type: 'VERIFY_BATCH_REQ', id: 1, items: [] }, 'INVALID_FIELD'],
    ['batch of 17', { type: 'VERIFY_BATCH_REQ', id: 1, items: Array(17).fill({ pan: PAN, expMonth: 1, expYear: 1, amount: 1, currency: 'EUR' }) }, 'INVALID_FIELD'],
    ['not an object', null, 'UNKNOWN_MESSAGE'],
  ];
  for (const [what, m, code] of bad) {
    it(`${what} -> ${code}`, () => {
      expect(thrown(() => encodeMessage(m as Message)).code).toBe(code);
    });
  }

  it('optional fields set to undefined are omitted', () => {
    expect(encodeMessage({ ...verifyReq, lang: undefined })).toEqual(encodeMessage(verifyReq));
  });
});

describe('ERROR helpers', () => {
  it('errorMessage keeps code and message, clips to 256 bytes, round-trips', () => {
    const m = errorMessage(9, new ProtocolError('REPLAY', 'é'.repeat(300)));
    expect(m.code).toBe(ERROR_CODES.REPLAY);
    expect(Buffer.byteLength(m.message)).toBeLessThanOrEqual(256);
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
    const pe = errorFromMessage(m);
    expect(pe.code).toBe('REPLAY');
  });

  it('errorMessage hides non-protocol errors behind INTERNAL', () => {
    const m = errorMessage(1, new Error(`sqlite said ${PAN}`));
    expect(m).toEqual({ type: 'ERROR', id: 1, code: ERROR_CODES.INTERNAL, message: 'internal error' });
  });

  it('expectResponse narrows, throws ERROR as ProtocolError, checks ids and types', () => {
    const req = { type: 'SYNC_CHUNK', id: 5 } as const;
    const ok = expectResponse(req, { type: 'SYNC_STATE', id: 5, version: 1, nextChunk: 2, totalChunks: 3 });
    expect(ok.nextChunk).toBe(2);
    expect(thrown(() => expectResponse(req, { type: 'ERROR', id: 5, code: ERROR_CODES.CHUNK_HASH, message: 'x' })).code).toBe('CHUNK_HASH');
    expect(thrown(() => expectResponse(req, { type: 'ACK', id: 5 })).code).toBe('UNKNOWN_MESSAGE');
    expect(thrown(() => expectResponse(req, { type: 'ACK', id: 6 })).code).toBe('BAD_SEQUENCE');
  });
});

describe('INFO_RES rulesVersion (key 12, optional)', () => {
  const info = {
    type: 'INFO_RES' as const,
    id: 1,
    deviceId: 'pc-0123456789ab',
    protocolVersion: 1,
    firmwareVersion: 3,
    maxMessageSize: 7609,
    datasetVersion: 0,
    datasetState: 2,
    datasetExpiresAt: 0,
    staticKey: new Uint8Array(32).fill(7),
    pairedHosts: 0,
    maxPairedHosts: 4,
  };
  it('an older device without it still decodes; a newer one carries it', () => {
    const old = decodeMessage(encodeMessage(info));
    expect(old).toEqual(info);
    expect('rulesVersion' in old).toBe(false);
    expect(decodeMessage(encodeMessage({ ...info, rulesVersion: 2 }))).toEqual({ ...info, rulesVersion: 2 });
  });
});

describe('specification (docs/protocol.md)', () => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

  it('message tables are the ones generated from the catalogue', () => {
    expect(doc).toContain(renderMessageIndex());
    expect(doc).toContain(renderMessageTables());
  });

  it('lists every error code with its number', () => {
    for (const [name, n] of Object.entries(ERROR_CODES)) {
      expect(doc).toContain(`| 0x${n.toString(16).toUpperCase().padStart(2, '0')} | ${name} |`);
    }
  });

  it('the annotated VERIFY_REQ example is the real encoding', () => {
    const block = doc.slice(doc.indexOf('### Example: VERIFY_REQ'));
    const code = block.slice(block.indexOf('```') + 3, block.indexOf('```', block.indexOf('```') + 3));
    const bytes = code
      .split('\n')
      .map((line) => line.split(/\s{2,}key|\s{2,}map/)[0].trim())
      .join(' ');
    expect(hex(bytes)).toEqual(encodeMessage(verifyReq));
  });
});
