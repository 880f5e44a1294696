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
// - Precheck (docs/architecture.md) additionally treats 59 (suspected fraud)
//   and 62 (restricted card) as hard: retrying them only adds fraud-monitoring attempts.

import type { FailureType, HistoryStatus } from '../protocol/dataset/types.ts';

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
 * another answer replaces it) and younger than its window — except a funds/limit decline, which
 * stands for an amount at least the declined one until an approval of at least that amount
 * (rules/decide.ts standingFundsDecline). The windows:
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
 * what these rules treat as soft declines (Visa Core Rules reattempt rules, effective April 2021;
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

// ---------------------------------------------------------------------------------------------
// The outcome classification table: ONE answer, used by the device and the network service
// (rules/decide.ts, rules/restriction.ts) and by the bridge, to "what does this
// gateway outcome say, and about whom?". The response code decides; the gateway's `type` only
// refines what the code does not say (no code, or a code not in the table), except that
// `type: 'fraud'` always marks fraud. So a 91 is the same outcome with or without
// `type: 'technical'`.
//
// | effect  | what it is about                          | card                                   | gateway                         |
// |---------|-------------------------------------------|----------------------------------------|---------------------------------|
// | card    | this card: hard/soft/generic declines     | history; hard → restricted (not 57/62  | generic (05, unknown codes, 1A, |
// |         | (04, 41, 51, 05, 54 ...), fraud, MAC 03/21| cross-border); soft → review window;   | type hard without a known code):|
// |         |                                           | counts towards retry limits            | a failure in its success rate;  |
// |         |                                           |                                        | a code in GATEWAY_NEUTRAL_CODES |
// |         |                                           |                                        | (51, 57, 54, 14, 41 ...): not in|
// |         |                                           |                                        | its rate. Either way a processed|
// |         |                                           |                                        | answer (resets elimination)     |
// | issuer  | the issuer or switch cannot answer now    | review "try again later" for 5 min;    | not in its rate (every gateway  |
// |         | (91, 96, 19, N3)                          | never restricts; no retry-limit count  | meets the same issuer); a       |
// |         |                                           | (the issuer declined nothing)          | processed answer                |
// | gateway | the gateway itself failed: timeouts and   | nothing: never history, restriction,   | a technical failure: counts in  |
// |         | technical errors without an issuer answer | retry limit or known-good              | its rate and towards elimination|
// |         | (TIMEOUT, 68, 92; or type technical with  |                                        |                                 |
// |         | no code the table knows)                  |                                        |                                 |
// ---------------------------------------------------------------------------------------------

/** Issuer or switch unavailable: the issuer did not decide anything. */
export const ISSUER_UNAVAILABLE_CODES: ReadonlySet<string> = new Set(['91', '96', '19', 'N3']);

/**
 * The gateway's own failures: no issuer answer came back. TIMEOUT is not ISO 8583 (gateways and
 * the simulator use it for a request that got no answer); 68 "response received too late", 92
 * "destination cannot be found for routing" are the acquirer side's.
 */
export const GATEWAY_FAILURE_CODES: ReadonlySet<string> = new Set(['TIMEOUT', '68', '92']);

/**
 * Codes that say the card is in a fraudster's hands (besides `type: 'fraud'`): pick up for fraud
 * (07), lost (41), stolen (43), suspected fraud (59). A burst of them is a fraud wave cycling
 * stolen numbers; the floor limits (server/datasets/floor-limits.ts) go to zero on one. Other hard
 * codes (04, 12, 14, 15, 46, 57, 62, R0/R1/R3) restrict the card but say nothing about fraud.
 */
export const FRAUD_EVIDENCE_CODES: ReadonlySet<string> = new Set(['07', '41', '43', '59']);

/**
 * Answers that say nothing about the gateway: the card or its issuer would give the same answer
 * whichever gateway carried the attempt — the hard codes (lost/stolen, no such number, closed,
 * not enabled abroad, restricted ...), the card's funds, limits and data (51, 61, 65, 54, 82 ...),
 * "contact your bank" (93, 78, 75) and the unavailable issuer (91, 96, 19, N3). The router leaves
 * them out of a gateway's success rate: counted, they went to whichever gateway took new cards
 * first and hid the differences between gateways (the fraud-wave simulation measured
 * cross-border Visa at ~86 % for alpha and beta alike where the market gives 84 % and 93 %).
 * What stays in the rate is what does differ by gateway: approvals, generic declines (05 "do not
 * honor", unknown codes: the issuer's view of that acquirer), 1A (whether the acquirer asked for
 * an authentication exemption) and the gateway's own failures.
 */
export const GATEWAY_NEUTRAL_CODES: ReadonlySet<string> = new Set(
  [...HARD_DECLINE_CODES, ...SOFT_DECLINE_RULES.keys(), ...ISSUER_UNAVAILABLE_CODES].filter((c) => c !== '1A'),
);

export type OutcomeEffect = 'approved' | 'card' | 'issuer' | 'gateway';

export interface OutcomeClass {
  effect: OutcomeEffect;
  /** Card-level and never to be retried: fraud, a no-retry advice code, a hard code or type hard. */
  hard: boolean;
  /** Fraud reported by the gateway. */
  fraud: boolean;
  /** Fraud reported, or a code in FRAUD_EVIDENCE_CODES: evidence of stolen cards in use. */
  fraudEvidence: boolean;
  /** 57/62 without fraud or a no-retry advice: "not enabled abroad", fixable by the cardholder. */
  internationalOnly: boolean;
  /** The soft-decline rule (review window and prompt) when there is one. */
  soft: SoftDeclineRule | null;
  /** Counts towards the brand's retry limit (an issuer declined this card). */
  countsAsAttempt: boolean;
  /** The code is in GATEWAY_NEUTRAL_CODES: any gateway would have had this answer (not in routing rates). */
  gatewayNeutral: boolean;
}

export interface ClassifiableOutcome {
  /** HistoryStatus; a stored row's plain string is taken as it is. */
  status: HistoryStatus | string;
  code?: string | null;
  type?: FailureType | string | null;
  advice?: string | null;
}

/** The one classification of a gateway outcome (see the table above). */
export function classifyOutcome(o: ClassifiableOutcome): OutcomeClass {
  const none = { hard: false, fraud: false, fraudEvidence: false, internationalOnly: false, soft: null, countsAsAttempt: false, gatewayNeutral: false };
  if (o.status === 'success') return { effect: 'approved', ...none };
  const code = o.code ?? undefined;
  const gatewayNeutral = code !== undefined && GATEWAY_NEUTRAL_CODES.has(code);
  const fraud = o.type === 'fraud';
  const noRetry = !!o.advice && NO_RETRY_ADVICE_CODES.has(o.advice);
  const hardCode = code !== undefined && HARD_DECLINE_CODES.has(code);
  if (fraud || noRetry || hardCode || o.type === 'hard') {
    const internationalOnly = code !== undefined && INTERNATIONAL_RESTRICTION_CODES.has(code) && !fraud && !noRetry;
    const fraudEvidence = fraud || (code !== undefined && FRAUD_EVIDENCE_CODES.has(code));
    return { effect: 'card', hard: true, fraud, fraudEvidence, internationalOnly, soft: null, countsAsAttempt: true, gatewayNeutral };
  }
  if (code !== undefined && ISSUER_UNAVAILABLE_CODES.has(code)) return { effect: 'issuer', ...none, soft: SOFT_DECLINE_RULES.get(code) ?? null, gatewayNeutral };
  if (code !== undefined && SOFT_DECLINE_RULES.has(code)) return { effect: 'card', ...none, soft: SOFT_DECLINE_RULES.get(code)!, countsAsAttempt: true, gatewayNeutral };
  if ((code !== undefined && GATEWAY_FAILURE_CODES.has(code)) || o.type === 'technical') return { effect: 'gateway', ...none };
  // A generic or unknown decline (05 "do not honor" ...): about the card at that acquirer.
  return { effect: 'card', ...none, countsAsAttempt: true };
}
