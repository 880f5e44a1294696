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

export interface NewCardDecision {
  decision: 'approve' | 'review' | 'decline';
  reason: 'trust_ok' | 'trust_limit_exceeded' | 'trust_too_low';
  promptCode: '3ds_required' | null;
  level: TrustLevel;
  score: number;
  limit: number; // minor units of the order currency
  modelVersion: string;
}

export function evaluateNewCard(
  model: TrustModel,
  ctx: TrustContext,
  order: { amount: number; currency: string },
  opts: Omit<TrustLimitOptions, 'currency'> = {},
): NewCardDecision {
  if (!Number.isSafeInteger(order.amount) || order.amount < 0) throw new RangeError('order.amount must be a non-negative integer (minor units)');
  if (typeof order.currency !== 'string' || !/^[A-Za-z]{3}$/.test(order.currency)) throw new RangeError('order.currency must be an ISO 4217 code');
  const { score, level } = scoreTrust(model, extractTrustFeatures(ctx));
  const limit = trustLimit(level, { ...opts, currency: order.currency });
  const base = { level, score, limit, modelVersion: model.version };
  if (level === 'block') return { decision: 'decline', reason: 'trust_too_low', promptCode: null, ...base };
  if (order.amount > limit) return { decision: 'review', reason: 'trust_limit_exceeded', promptCode: '3ds_required', ...base };
  return { decision: 'approve', reason: 'trust_ok', promptCode: null, ...base };
}
