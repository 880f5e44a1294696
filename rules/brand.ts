// Card brand from the IIN through credit-card-type (a maintained table, not a hand-written one).
import creditCardType from 'credit-card-type';

// credit-card-type scans its whole pattern table (~15 µs per call); the brand depends only on
// the leading digits, so a small bounded memo keyed by the first 8 digits and the length makes
// repeated lookups (the hot path of every verification) cost a Map lookup.
const MEMO_MAX = 4096;
const memo = new Map<string, string | null>();

/** credit-card-type brand id ("visa", "mastercard", "american-express", "unionpay", ...) or null. */
export function cardBrand(panDigits: string): string | null {
  const key = `${panDigits.slice(0, 8)}/${panDigits.length}`;
  const hit = memo.get(key);
  if (hit !== undefined) return hit;
  const matches = creditCardType(panDigits);
  const brand = matches.length > 0 ? matches[0].type : null;
  if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value as string);
  memo.set(key, brand);
  return brand;
}
