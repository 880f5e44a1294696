import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../protocol/errors.ts';
import { cardToken, maskPan, panBin, panLast4, parseTokenHex, tokenHex } from '../../../protocol/dataset/token.ts';

const key = new Uint8Array(32).fill(1);
const PAN = '4111111111111111';

describe('card tokens', () => {
  it('is the first 16 bytes of HMAC-SHA-256(key, domain + digits)', () => {
    const expected = crypto.createHmac('sha256', key).update('precheck/token/v1:' + PAN).digest().subarray(0, 16);
    expect(Buffer.from(cardToken(key, PAN)).equals(expected)).toBe(true);
  });
  it('is deterministic and ignores separators', () => {
    expect(tokenHex(cardToken(key, '4111 1111-1111 1111'))).toBe(tokenHex(cardToken(key, PAN)));
  });
  it('depends on the key and on the card', () => {
    const other = new Uint8Array(32).fill(2);
    expect(tokenHex(cardToken(other, PAN))).not.toBe(tokenHex(cardToken(key, PAN)));
    expect(tokenHex(cardToken(key, '5555555555554444'))).not.toBe(tokenHex(cardToken(key, PAN)));
  });
  it('round-trips through hex and rejects bad hex', () => {
    const t = cardToken(key, PAN);
    expect(tokenHex(t)).toMatch(/^[0-9a-f]{32}$/);
    expect(parseTokenHex(tokenHex(t))).toEqual(t);
    expect(() => parseTokenHex('XYZ')).toThrow(ProtocolError);
    expect(() => parseTokenHex(tokenHex(t).toUpperCase())).toThrow(ProtocolError);
  });
  it('masks, BIN and last four; errors never echo the number', () => {
    expect(maskPan(PAN)).toBe('411111******1111');
    expect(maskPan('378282246310005')).toBe('378282*****0005');
    expect(panBin(PAN)).toBe('411111');
    expect(panLast4(PAN)).toBe('1111');
    try {
      cardToken(key, '4111x11111111111');
      expect.unreachable();
    } catch (e) {
      expect((e as ProtocolError).code).toBe('INVALID_FIELD');
      expect((e as Error).message).not.toContain('4111');
    }
  });
});
