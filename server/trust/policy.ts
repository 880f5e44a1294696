// From a trust level to a payment limit and a decision for a card new to the merchant (seed 002:
// the new-card trust level sets a payment limit; above it the payment needs stronger
// verification — 3-D Secure here — and below a floor it is refused).
import { minorFromRoughUsd } from '../routing/currency.ts';
import { extractTrustFeatures, type TrustContext } from './features.ts';
import { scoreTrust, type TrustLevel, type TrustModel } from './model.ts';

/** Limits per level in rough dollar-sized major units (converted per currency). */
export const DEFAULT_TRUST_LIMITS_USD: Readonly<Record<TrustLevel, number>> = { high: 2000, medium: 500, low: 100, block: 0 };

export interface TrustLimitOptions {
  currency?: string; // default 'USD'
  limitsUsd?: Partial<Record<TrustLevel, number>>;
}

/** Payment limit for a new card at this trust level, in minor units of the currency. */
export function trustLimit(level: TrustLevel, opts: TrustLimitOptions = {}): number {
  const usd = opts.limitsUsd?.[level] ?? DEFAULT_TRUST_LIMITS_USD[level];
  if (!(usd >= 0)) throw new RangeError(`trust limit for ${level} must be >= 0`);
  return minorFromRoughUsd(usd, opts.currency ?? 'USD');
}

/**
 * What is known about the card itself (from the service's outcome history, any merchant): a record
 * of successful payments, and fraud outcomes.
 */
export interface CardEvidence {
  successes: number;
  fraud: number;
}

/** Distinct cards in a short time on one account, device or IP: card testing. */
export const CARD_VELOCITY_LIMITS = { accountDay: 5, deviceDay: 5, ipHour: 10 } as const;

/**
 * What this checkout (the order's earlier attempts, any card) showed: outcomes that are fraud
 * evidence by the classification table (rules/response-codes.ts: fraud, 07/41/43/59), and the
 * largest amount (order currency) this very card was already sent to a gateway for in this
 * order, if it was.
 */
export interface CheckoutEvidence {
  fraudOutcomes: number;
  cardAttemptedAmount?: number | null;
}

export type FraudEvidence = 'card_fraud' | 'account_fraud' | 'device_fraud' | 'card_velocity' | 'ip_velocity' | 'checkout_fraud';

/**
 * Evidence that declines at any trust level: card testing on one account or one device (at least
 * CARD_VELOCITY_LIMITS distinct cards a day). The level comes from a model that credits the
 * account's own earlier payments, and a fraudster's paid orders are not charged back yet when
 * the next card comes: in the fraud-wave simulation a fraudster whose account had tried five
 * cards sat at `medium`, got 3-D Secure on every further card instead of a decline, and passed it
 * on 3 of 13 (each pass a paid fraud order). No customer pays with five different cards in a
 * day. Many cards on one IP stay level-gated: an IP can be shared (carrier NAT, offices).
 */
export const DECLINE_AT_ANY_LEVEL: ReadonlySet<FraudEvidence> = new Set(['card_velocity']);

/**
 * Evidence that asks for 3-D Secure but never declines by itself: an earlier card of this very
 * checkout came back lost, stolen or suspected fraud. A fraudster cycling stolen numbers shows
 * exactly this (the fraud-wave simulation: 6 of 16 fraud orders paid in one run were paid with
 * the next card after a 41/43 in the same order), but so does a customer who reached for a card
 * they once reported lost: the authentication tells them apart, a decline would not.
 */
export const REVIEW_ONLY_EVIDENCE: ReadonlySet<FraudEvidence> = new Set(['checkout_fraud']);

/**
 * The fraud evidence a decline needs (or, for REVIEW_ONLY_EVIDENCE, a review), or null: a fraud
 * outcome on the card, fraud or chargebacks on the account or the device, velocity across many
 * cards (CARD_VELOCITY_LIMITS), or fraud evidence earlier in this checkout. The strongest first. A
 * restricted card never gets here: the rules decline it before trust is asked.
 */
export function fraudEvidence(ctx: TrustContext, card: CardEvidence = { successes: 0, fraud: 0 }, checkout: CheckoutEvidence = { fraudOutcomes: 0 }): FraudEvidence | null {
  if (card.fraud > 0) return 'card_fraud';
  if (ctx.account.fraud + ctx.account.chargebacks > 0) return 'account_fraud';
  if ((ctx.device?.fraud ?? 0) > 0) return 'device_fraud';
  const v = ctx.environment.distinctCards;
  if (v && (v.accountDay >= CARD_VELOCITY_LIMITS.accountDay || v.deviceDay >= CARD_VELOCITY_LIMITS.deviceDay)) return 'card_velocity';
  if (v && v.ipHour >= CARD_VELOCITY_LIMITS.ipHour) return 'ip_velocity';
  if (checkout.fraudOutcomes > 0) return 'checkout_fraud';
  return null;
}

export interface NewCardDecision {
  decision: 'approve' | 'review' | 'decline';
  /**
   * trust_ok: within the limit; trust_limit_exceeded: above it (3-D Secure); trust_too_low: the
   * model's lowest level without fraud evidence (3-D Secure, never a decline); fraud_signal: fraud
   * evidence (`evidence` says which): a decline at a low or blocking level, else 3-D Secure
   * (always 3-D Secure for REVIEW_ONLY_EVIDENCE); trust_retry: this card was already sent to a
   * gateway in this checkout for at least this amount and no fraud evidence came since (approve).
   */
  reason: 'trust_ok' | 'trust_limit_exceeded' | 'trust_too_low' | 'fraud_signal' | 'trust_retry';
  promptCode: '3ds_required' | null;
  evidence: FraudEvidence | null;
  level: TrustLevel;
  score: number;
  limit: number; // minor units of the order currency
  modelVersion: string;
}

/**
 * The new-card answer. Low trust alone is never a decline: it asks for 3-D Secure (the customer
 * proves the card is theirs; a lost sale is the cost of a wrong decline, a 3DS step the cost of a
 * wrong review). A decline needs fraud evidence (fraudEvidence, not REVIEW_ONLY_EVIDENCE) AND a
 * low or blocking level (any level for DECLINE_AT_ANY_LEVEL); with evidence at a higher level, or
 * review-only evidence, the answer is 3-D Secure. So a card or account with successful
 * payments and no fraud signal is never declined for low trust: every false decline seen in the
 * simulator was "trust too low" on such a returning customer.
 */
export function evaluateNewCard(
  model: TrustModel,
  ctx: TrustContext,
  order: { amount: number; currency: string },
  opts: Omit<TrustLimitOptions, 'currency'> = {},
  card: CardEvidence = { successes: 0, fraud: 0 },
  checkout: CheckoutEvidence = { fraudOutcomes: 0 },
): NewCardDecision {
  return decideNewCard(scoreNewCard(model, ctx, order, opts), ctx, order, card, checkout);
}

/** The model's part of the new-card answer: score, level and the limit they set. */
export interface NewCardScore {
  level: TrustLevel;
  score: number;
  limit: number; // minor units of the order currency
  modelVersion: string;
}

/**
 * Scores a context for an order. `features`: extractTrustFeatures(ctx) when the caller has them.
 * What is known about the card itself and the checkout does not enter the score: one score
 * serves the answer before and after they are read (decideNewCard).
 */
export function scoreNewCard(
  model: TrustModel,
  ctx: TrustContext,
  order: { amount: number; currency: string },
  opts: Omit<TrustLimitOptions, 'currency'> = {},
  features?: Float64Array,
): NewCardScore {
  if (!Number.isSafeInteger(order.amount) || order.amount < 0) throw new RangeError('order.amount must be a non-negative integer (minor units)');
  if (typeof order.currency !== 'string' || !/^[A-Za-z]{3}$/.test(order.currency)) throw new RangeError('order.currency must be an ISO 4217 code');
  const { score, level } = scoreTrust(model, features ?? extractTrustFeatures(ctx));
  return { level, score, limit: trustLimit(level, { limitsUsd: opts.limitsUsd, currency: order.currency }), modelVersion: model.version };
}

/** The new-card answer from a score (scoreNewCard of the same context and order), the card's record and the checkout's. */
export function decideNewCard(
  scored: NewCardScore,
  ctx: TrustContext,
  order: { amount: number },
  card: CardEvidence = { successes: 0, fraud: 0 },
  checkout: CheckoutEvidence = { fraudOutcomes: 0 },
): NewCardDecision {
  const { level, limit } = scored;
  const evidence = fraudEvidence(ctx, card, checkout);
  // One literal per answer (a `base` spread into each made a copy per auth).
  const answer = (decision: NewCardDecision['decision'], reason: NewCardDecision['reason'], promptCode: NewCardDecision['promptCode']): NewCardDecision => ({
    decision,
    reason,
    promptCode,
    level,
    score: scored.score,
    limit,
    modelVersion: scored.modelVersion,
    evidence,
  });
  const declinable = evidence !== null && !REVIEW_ONLY_EVIDENCE.has(evidence);
  if (declinable && (level === 'block' || level === 'low' || DECLINE_AT_ANY_LEVEL.has(evidence))) return answer('decline', 'fraud_signal', null);
  if (evidence !== null) return answer('review', 'fraud_signal', '3ds_required');
  // The customer tries the same card again in the same checkout (after a generic 05, a timeout, a
  // smaller basket after a funds decline: the rules answer every decline that says something
  // about the card before trust is asked). Precheck answered this card for this order already
  // (approved, or 3-D Secure passed) and nothing since is fraud evidence (checked above), so the
  // level is not asked again: it fell only because the first attempt now counts as velocity on
  // the account, card and IP (six features for one retry), and a second 3-D Secure step for a
  // generic decline lost ~15 % of those orders (the simulator: 8 such reviews in a fraud-wave run,
  // 16 in calm). A larger amount than was attempted is asked again.
  const attempted = checkout.cardAttemptedAmount;
  if (attempted !== null && attempted !== undefined && order.amount <= attempted) return answer('approve', 'trust_retry', null);
  if (level === 'block') return answer('review', 'trust_too_low', '3ds_required');
  if (order.amount > limit) return answer('review', 'trust_limit_exceeded', '3ds_required');
  return answer('approve', 'trust_ok', null);
}
