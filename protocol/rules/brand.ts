// Card brand from the IIN through credit-card-type (a maintained table, not a hand-written one).
import creditCardType from 'credit-card-type';

/** credit-card-type brand id ("visa", "mastercard", "american-express", "unionpay", ...) or null. */
export function cardBrand(panDigits: string): string | null {
  const matches = creditCardType(panDigits);
  return matches.length > 0 ? matches[0].type : null;
}
