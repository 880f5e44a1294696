import { describe, expect, it } from 'vitest';
import { checkCard, FormatCheckError, MAX_YEARS_AHEAD } from '../../host-bridge/pipeline/format-checks.ts';

const NOW = new Date(Date.UTC(2026, 5, 15, 12)); // 15 June 2026
const ok = { expMonth: 12, expYear: 2028 };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatCheckError);
    return (e as FormatCheckError).code + ':' + (e as FormatCheckError).field;
  }
  return undefined;
}

describe('format checks', () => {
  it('detects brands through card-validator and masks to BIN + last four', () => {
    expect(checkCard({ number: '4111 1111 1111 1111', ...ok }, NOW)).toMatchObject({ pan: '4111111111111111', bin: '411111', last4: '1111', brand: 'visa' });
    expect(checkCard({ number: '5555-5555-5555-4444', ...ok }, NOW).brand).toBe('mastercard');
    expect(checkCard({ number: '378282246310005', ...ok }, NOW).brand).toBe('american-express');
    expect(checkCard({ number: '6011111111111117', ...ok }, NOW).brand).toBe('discover');
  });

  it('accepts an unknown brand with a valid check digit (brand null)', () => {
    const r = checkCard({ number: '9999999999999995', ...ok }, NOW);
    expect(r.brand).toBeNull();
  });

  it('rejects a bad Luhn digit, non-digits, wrong lengths', () => {
    expect(codeOf(() => checkCard({ number: '4111111111111112', ...ok }, NOW))).toBe('CARD_NUMBER_INVALID:card.number');
    expect(codeOf(() => checkCard({ number: '9999999999999990', ...ok }, NOW))).toBe('CARD_NUMBER_INVALID:card.number');
    expect(codeOf(() => checkCard({ number: '4111x11111111111', ...ok }, NOW))).toBe('CARD_NUMBER_INVALID:card.number');
    expect(codeOf(() => checkCard({ number: '41111111111', ...ok }, NOW))).toBe('CARD_NUMBER_INVALID:card.number');
    // 17 digits is not a Visa length even with a valid check digit
    expect(codeOf(() => checkCard({ number: '41111111111111113', ...ok }, NOW))).toBe('CARD_NUMBER_INVALID:card.number');
  });

  it('never puts the card number in an error message', () => {
    for (const number of ['4111111111111112', '4111111111111111111111', '4111111111111111']) {
      try {
        checkCard({ number, expMonth: 1, expYear: 2020 }, NOW);
      } catch (e) {
        expect((e as Error).message).not.toContain(number);
        expect((e as Error).message).not.toContain('411111111111');
      }
    }
  });

  it('expiry: valid through the end of its month, refused after, refused when absurdly far', () => {
    expect(checkCard({ number: '4111111111111111', expMonth: 6, expYear: 2026 }, NOW).expYear).toBe(2026);
    expect(checkCard({ number: '4111111111111111', expMonth: 6, expYear: 26 }, NOW).expYear).toBe(2026);
    expect(codeOf(() => checkCard({ number: '4111111111111111', expMonth: 5, expYear: 2026 }, NOW))).toBe('CARD_EXPIRED:card.expYear');
    expect(codeOf(() => checkCard({ number: '4111111111111111', expMonth: 12, expYear: 2025 }, NOW))).toBe('CARD_EXPIRED:card.expYear');
    // one day of grace for time zones ahead of UTC
    expect(checkCard({ number: '4111111111111111', expMonth: 5, expYear: 2026 }, new Date(Date.UTC(2026, 5, 1, 10))).expMonth).toBe(5);
    expect(codeOf(() => checkCard({ number: '4111111111111111', expMonth: 1, expYear: 2026 + MAX_YEARS_AHEAD + 1 }, NOW))).toBe('EXPIRY_INVALID:card.expYear');
    expect(checkCard({ number: '4111111111111111', expMonth: 1, expYear: 2026 + MAX_YEARS_AHEAD }, NOW).expYear).toBe(2046);
    expect(codeOf(() => checkCard({ number: '4111111111111111', expMonth: 13, expYear: 2028 }, NOW))).toBe('EXPIRY_INVALID:card.expMonth');
    expect(codeOf(() => checkCard({ number: '4111111111111111', expMonth: 1, expYear: 202 }, NOW))).toBe('EXPIRY_INVALID:card.expYear');
  });

  it('checks the CVC length for the brand, then drops it', () => {
    const r = checkCard({ number: '4111111111111111', ...ok, cvc: '123' }, NOW);
    expect(Object.values(r)).not.toContain('123');
    expect(JSON.stringify(r)).not.toContain('cvc');
    expect(codeOf(() => checkCard({ number: '4111111111111111', ...ok, cvc: '1234' }, NOW))).toBe('CVC_INVALID:card.cvc');
    expect(checkCard({ number: '378282246310005', ...ok, cvc: '1234' }, NOW).brand).toBe('american-express');
    expect(codeOf(() => checkCard({ number: '378282246310005', ...ok, cvc: '123' }, NOW))).toBe('CVC_INVALID:card.cvc');
    expect(codeOf(() => checkCard({ number: '4111111111111111', ...ok, cvc: '12a' }, NOW))).toBe('CVC_INVALID:card.cvc');
  });
});
