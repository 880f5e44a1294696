// Format checks run before anything else: digits and length, Luhn, expiry window, brand from the
// IIN, security-code format. Brand tables and Luhn come from card-validator / credit-card-type
// (maintained by Braintree), never hand-written. Pure: no I/O, the clock is a parameter.
import cardValidator from 'card-validator';
import luhn10 from 'card-validator/dist/luhn-10.js';
import { expiredFrom } from '../../rules/expiry.ts';
import { PrecheckError } from '../../errors/precheck-error.ts';

export type FormatErrorCode = 'CARD_NUMBER_INVALID' | 'CARD_EXPIRED' | 'EXPIRY_INVALID' | 'CVC_INVALID';

/** A card that is well-formed JSON but cannot be a valid card. Messages never contain card data. */
export class FormatCheckError extends PrecheckError<FormatErrorCode> {
  constructor(
    code: FormatErrorCode,
    readonly field: string,
    message: string,
  ) {
    super(code, message);
    this.name = 'FormatCheckError';
  }
}

export interface CardInput {
  number: string;
  expMonth: number;
  expYear: number;
  cvc?: string;
}

export interface CheckedCard {
  /** Digits only. Lives in memory for the call; never logged or stored. */
  pan: string;
  bin: string;
  last4: string;
  /** credit-card-type's type id ('visa', 'mastercard', 'american-express', ...) or null when unknown. */
  brand: string | null;
  expMonth: number;
  /** Four digits. */
  expYear: number;
}

/** Expiry years further ahead than this are refused as typos (card-validator's default is 19). */
export const MAX_YEARS_AHEAD = 20;

/** Strip the separators people type (spaces, dashes). */
export function normalisePan(input: string): string {
  return input.replace(/[\s-]/g, '');
}

export function maskedPan(pan: string): { bin: string; last4: string } {
  return { bin: pan.slice(0, 6), last4: pan.slice(-4) };
}

export function checkCard(card: CardInput, now: Date = new Date()): CheckedCard {
  const pan = normalisePan(card.number);
  if (!/^\d+$/.test(pan)) throw new FormatCheckError('CARD_NUMBER_INVALID', 'card.number', 'card.number must contain only digits (spaces and dashes allowed)');
  if (pan.length < 12 || pan.length > 19) throw new FormatCheckError('CARD_NUMBER_INVALID', 'card.number', `card.number must have 12 to 19 digits (has ${pan.length})`);

  const v = cardValidator.number(pan, { luhnValidateUnionPay: true });
  const brandInfo = v.card;
  if (brandInfo && !brandInfo.lengths.includes(pan.length)) {
    throw new FormatCheckError('CARD_NUMBER_INVALID', 'card.number', `card.number has ${pan.length} digits, which is not a valid length for ${brandInfo.niceType}`);
  }
  // Unknown brands are allowed (brand null) but still need a valid check digit.
  if (!luhn10(pan)) throw new FormatCheckError('CARD_NUMBER_INVALID', 'card.number', 'card.number fails the Luhn check digit');

  const expMonth = card.expMonth;
  if (!Number.isInteger(expMonth) || expMonth < 1 || expMonth > 12) throw new FormatCheckError('EXPIRY_INVALID', 'card.expMonth', 'card.expMonth must be 1 to 12');
  let expYear = card.expYear;
  if (!Number.isInteger(expYear) || expYear < 0 || (expYear > 99 && (expYear < 2000 || expYear > 2999))) {
    throw new FormatCheckError('EXPIRY_INVALID', 'card.expYear', 'card.expYear must be two or four digits');
  }
  if (expYear < 100) expYear += 2000;
  // The shared expiry rule (rules/expiry.ts), not card-validator's expirationDate, which reads the
  // wall clock (the pipeline's clock is injected so the rule is testable at month boundaries).
  if (now.getTime() >= expiredFrom(expMonth, expYear) * 1000) throw new FormatCheckError('CARD_EXPIRED', 'card.expYear', 'the card has expired');
  if (expYear > now.getUTCFullYear() + MAX_YEARS_AHEAD) {
    throw new FormatCheckError('EXPIRY_INVALID', 'card.expYear', `card.expYear is more than ${MAX_YEARS_AHEAD} years ahead`);
  }

  if (card.cvc !== undefined) {
    const sizes = brandInfo ? [brandInfo.code.size] : [3, 4];
    if (!cardValidator.cvv(card.cvc, sizes).isValid) {
      throw new FormatCheckError('CVC_INVALID', 'card.cvc', `card.cvc must be ${sizes.join(' or ')} digits${brandInfo ? ` for ${brandInfo.niceType}` : ''}`);
    }
    // Checked, then dropped: the security code is never forwarded, stored or logged.
  }

  return { pan, ...maskedPan(pan), brand: brandInfo ? brandInfo.type : null, expMonth, expYear };
}
