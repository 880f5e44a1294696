// Issuer response codes and what they mean for a retry. Codes are the two-character ISO 8583
// field 39 values the networks use (Visa/Mastercard share most numeric codes; Visa adds
// alphanumeric ones such as R0, N7, 1A).
//
// Sources:
// - Visa "Decline Reason Codes" / Visa Integrity Risk Program (Visa Core Rules, reattempt rules
//   effective April 2021): category 1 "issuer will never approve" (04, 07, 12, 14, 15, 41, 43, 46,
//   57, R0, R1, R3), category 2 "issuer cannot approve at this time" (03, 19, 51, 59, 61, 62, 65,
//   75, 78, 86, 91, 93, 96, N3, N4, 1A, 5C, 9G), category 3 "data quality" (14 for some issuers,
//   54, 55, 6P, 70, 82, N7), category 4 generic (05 and all others). Visa allows at most 15
//   reattempts of a declined card in 30 days and no reattempt after a category 1 code.
// - Mastercard "Merchant Advice Codes" (Transaction Processing Excellence): MAC 03 "do not try
//   again" and MAC 21 "payment cancellation" forbid any retry; MAC 24–30 give retry-after times.
//   Mastercard's Excessive Authorization Attempts rule charges from the 11th decline of the same
//   card within 24 hours, i.e. stop at 10.
// - The product design (docs/architecture, DESIGN.md) additionally treats 59 (suspected fraud)
//   and 62 (restricted card) as hard: retrying them only adds fraud-monitoring attempts.

/** Hard declines: never retry the card. */
export const HARD_DECLINE_CODES: ReadonlySet<string> = new Set([
  '04', // pick up card (no fraud)
  '07', // pick up card, special condition (fraud account)
  '12', // invalid transaction
  '14', // invalid account number (no such number)
  '15', // no such issuer
  '41', // lost card, pick up
  '43', // stolen card, pick up
  '46', // closed account
  '57', // transaction not permitted to cardholder (often: card not enabled for this use, e.g. cross-border)
  '59', // suspected fraud
  '62', // restricted card (often: region/country restriction)
  'R0', // stop payment order
  'R1', // revocation of authorization order
  'R3', // revocation of all authorization orders
]);

/**
 * Hard codes that on a cross-border order usually mean "international payments are not enabled
 * on this card": the cardholder can fix that with the bank, so the answer is review + prompt.
 */
export const INTERNATIONAL_RESTRICTION_CODES: ReadonlySet<string> = new Set(['57', '62']);

/** Mastercard Merchant Advice Codes that forbid any retry. */
export const NO_RETRY_ADVICE_CODES: ReadonlySet<string> = new Set(['03', '21']);

/** Soft declines and the prompt that fits each. */
export const SOFT_DECLINE_PROMPTS: ReadonlyMap<string, string> = new Map([
  ['51', 'try_smaller_amount'], // insufficient funds
  ['61', 'try_smaller_amount'], // exceeds approval amount limit
  ['65', 'try_smaller_amount'], // exceeds withdrawal frequency limit
  ['91', 'try_again_later'], // issuer or switch inoperative
  ['96', 'try_again_later'], // system malfunction
  ['19', 'try_again_later'], // re-enter transaction
  ['N3', 'try_again_later'], // cash service not available
  ['N4', 'try_smaller_amount'], // cash request exceeds issuer or approved limit
  ['1A', 'authenticate'], // additional customer authentication required
  ['05', 'contact_issuer'], // do not honor (Visa category 4, generic)
  ['93', 'contact_issuer'], // transaction cannot be completed, violation of law
  ['78', 'contact_issuer'], // blocked, first use
  ['75', 'contact_issuer'], // allowable number of PIN tries exceeded
  // data quality (Visa category 3): the customer can correct the details
  ['54', 'check_card_details'], // expired card
  ['55', 'check_card_details'], // incorrect PIN
  ['6P', 'check_card_details'], // verification data failed
  ['70', 'check_card_details'], // PIN data required
  ['82', 'check_card_details'], // negative CAM, dCVV, iCVV or CVV results
  ['N7', 'check_card_details'], // decline for CVV2 failure
]);

/** Retry limits per brand (credit-card-type brand ids). */
export interface RetryLimit {
  /** decline when at least this many counted failures fall inside the window */
  maxAttempts: number;
  windowSeconds: number;
  source: string;
}
export const RETRY_LIMITS: Readonly<Record<string, RetryLimit>> = {
  visa: { maxAttempts: 15, windowSeconds: 30 * 86400, source: 'Visa excessive reattempts: 15 in 30 days' },
  mastercard: { maxAttempts: 10, windowSeconds: 86400, source: 'Mastercard excessive authorization attempts: 10 declines in 24 h' },
  maestro: { maxAttempts: 10, windowSeconds: 86400, source: 'Mastercard rules apply to Maestro' },
};

/** A soft decline older than this no longer says anything about the next attempt. */
export const SOFT_DECLINE_WINDOW_SECONDS = 30 * 86400;
