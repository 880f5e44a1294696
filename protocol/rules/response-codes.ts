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

/**
 * Soft declines that warrant a review before the next attempt, with the prompt that fits, how long
 * the decline keeps saying something about the card, and whether it is about the amount.
 *
 * A soft decline counts only while it is the card's most recent issuer answer (a later success or
 * another answer replaces it) and younger than its window:
 * - funds and limits (51, 61, 65, N4): 24 h — balances and daily limits reset on about that scale
 *   (Mastercard counts excessive attempts per 24 h too); and only for an amount at least as large
 *   as the declined one in the same currency: a smaller basket is exactly what the prompt asks for.
 * - issuer or switch unavailable (91, 96, 19, N3): 5 minutes — the prompt says "try again in a few
 *   minutes"; a rule that still refused after the customer did so would send them away for good.
 * - data quality (54, 55, 6P, 70, 82, N7) and additional authentication (1A): 1 h — they concern
 *   what was entered in that session.
 * - "contact your bank" (93, 78, 75): 24 h — the cardholder has to act with the issuer first.
 * 05 "do not honor" is deliberately NOT here. Visa classes it as category 4, "generic response
 * codes": the issuer gave no specific reason, reattempts are allowed (within the 15-in-30-days
 * limit), unlike category 2 "issuer cannot approve at this time" (51, 61, 65, 91, 96 ...), which is
 * what DESIGN.md lists as soft declines (Visa Core Rules reattempt rules, effective April 2021;
 * Stripe's decline-code table likewise lists `do_not_honor` as "declined for an unknown reason").
 * A 05 is often the issuer's risk view of that merchant/acquirer pair, so the useful reaction is
 * routing — the next attempt goes to a gateway that has not declined the card (server/routing:
 * `avoid`) — not a prompt that asks every such customer to phone their bank.
 */
export interface SoftDeclineRule {
  prompt: string;
  windowSeconds: number;
  /** Only an order of at least the declined amount (same currency) is reviewed. */
  amountBound: boolean;
}
const funds = (): SoftDeclineRule => ({ prompt: 'try_smaller_amount', windowSeconds: 86400, amountBound: true });
const unavailable = (): SoftDeclineRule => ({ prompt: 'try_again_later', windowSeconds: 300, amountBound: false });
const details = (): SoftDeclineRule => ({ prompt: 'check_card_details', windowSeconds: 3600, amountBound: false });
const issuer = (): SoftDeclineRule => ({ prompt: 'contact_issuer', windowSeconds: 86400, amountBound: false });
export const SOFT_DECLINE_RULES: ReadonlyMap<string, SoftDeclineRule> = new Map([
  ['51', funds()], // insufficient funds
  ['61', funds()], // exceeds approval amount limit
  ['65', funds()], // exceeds withdrawal frequency limit
  ['N4', funds()], // cash request exceeds issuer or approved limit
  ['91', unavailable()], // issuer or switch inoperative
  ['96', unavailable()], // system malfunction
  ['19', unavailable()], // re-enter transaction
  ['N3', unavailable()], // cash service not available
  ['1A', { prompt: 'authenticate', windowSeconds: 3600, amountBound: false }], // additional customer authentication required
  ['93', issuer()], // transaction cannot be completed, violation of law
  ['78', issuer()], // blocked, first use
  ['75', issuer()], // allowable number of PIN tries exceeded
  // data quality (Visa category 3): the customer can correct the details
  ['54', details()], // expired card
  ['55', details()], // incorrect PIN
  ['6P', details()], // verification data failed
  ['70', details()], // PIN data required
  ['82', details()], // negative CAM, dCVV, iCVV or CVV results
  ['N7', details()], // decline for CVV2 failure
]);

/** Soft declines and the prompt that fits each (SOFT_DECLINE_RULES without windows). */
export const SOFT_DECLINE_PROMPTS: ReadonlyMap<string, string> = new Map([...SOFT_DECLINE_RULES].map(([code, r]) => [code, r.prompt]));

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

/** The longest soft-decline window: a soft decline older than this says nothing about the next attempt. */
export const SOFT_DECLINE_WINDOW_SECONDS = Math.max(...[...SOFT_DECLINE_RULES.values()].map((r) => r.windowSeconds));
