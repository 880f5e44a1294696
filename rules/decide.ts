// The decision rules, shared by the device (stage "local") and the network service (stage
// "network") so both answer the same question the same way. Pure: no I/O, no clock (now is an
// input). Order follows DESIGN.md "The verification pipeline": restricted → BIN rule → hard
// decline in history (with the cross-border 57/62 exception) → retry limits → filter hit
// ("possibly restricted": escalate, never a decline by itself) → recent soft decline → known-good
// on fresh data → otherwise escalate. Stale or missing data never approves.
import type { BinAction, DatasetState, HistoryEvent } from '../protocol/dataset/types.ts';
import type { PromptCode } from './prompts.ts';
import { classifyOutcome, RETRY_LIMITS } from './response-codes.ts';

export type Decision = 'approve' | 'decline' | 'review' | 'escalate';
export type DecisionStage = 'local' | 'network';
export type DecisionReason =
  | 'restricted'
  | 'bin_rule'
  | 'hard_decline'
  | 'international_disabled'
  | 'retry_limit'
  | 'possibly_restricted'
  | 'soft_decline'
  | 'known_good'
  | 'unknown_card'
  | 'stale_data'
  | 'no_data';

export const DECISION_REASONS: readonly DecisionReason[] = [
  'restricted',
  'bin_rule',
  'hard_decline',
  'international_disabled',
  'retry_limit',
  'possibly_restricted',
  'soft_decline',
  'known_good',
  'unknown_card',
  'stale_data',
  'no_data',
];

export interface DecisionFacts {
  /** the card's entry in the restricted list, if any */
  restricted?: { reason: string } | null;
  /** the card hit the dataset's restricted filter (not confirmed exactly) */
  restrictedMaybe?: boolean;
  /** the longest matching BIN rule, if any */
  binRule?: { action: BinAction; reason: string } | null;
  knownGood: boolean;
  /** the card's outcome history (any order) */
  history: HistoryEvent[];
  /** credit-card-type brand id: from the history entry, else from the card number */
  brand?: string | null;
}
export interface DecisionOrder {
  /** minor units */
  amount: number;
  currency: string;
  crossBorder: boolean;
}
export interface DecisionInput {
  facts: DecisionFacts;
  order: DecisionOrder;
  /** unix seconds */
  now: number;
  dataState: DatasetState;
  stage: DecisionStage;
}
export interface DecisionResult {
  decision: Decision;
  reason: DecisionReason;
  promptCode: PromptCode | null;
  /** short machine detail for logs: the restricted/BIN reason, the response code, the limit. Never card data. */
  detail?: string;
}

// Every question about an outcome goes through the one classification table
// (response-codes.ts classifyOutcome): the code decides, the gateway's type refines.
const isHard = (e: HistoryEvent): boolean => classifyOutcome(e).hard;

/** A hard decline that only means "not enabled for this kind of payment" (57/62, no fraud, no MAC 03/21). */
const isInternationalOnly = (e: HistoryEvent): boolean => classifyOutcome(e).internationalOnly;

/** Failures that count towards retry limits: the issuer declined the card (not issuer-unavailable, not the gateway's failure). */
const countsAsAttempt = (e: HistoryEvent) => classifyOutcome(e).countsAsAttempt;

function result(decision: Decision, reason: DecisionReason, promptCode: PromptCode | null, detail?: string): DecisionResult {
  return detail === undefined ? { decision, reason, promptCode } : { decision, reason, promptCode, detail };
}

export function decide(input: DecisionInput): DecisionResult {
  const r = decideRaw(input);
  // Defence in depth for the one rule that must never break: stale or missing data cannot approve.
  if (r.decision === 'approve' && input.dataState !== 'fresh') {
    return result('escalate', input.dataState === 'none' ? 'no_data' : 'stale_data', null);
  }
  return r;
}

function decideRaw({ facts, order, now, dataState, stage }: DecisionInput): DecisionResult {
  if (facts.restricted) return result('decline', 'restricted', 'use_another_card', facts.restricted.reason);

  if (facts.binRule) {
    return facts.binRule.action === 'decline'
      ? result('decline', 'bin_rule', 'use_another_card', facts.binRule.reason)
      : result('review', 'bin_rule', 'payment_review', facts.binRule.reason);
  }

  const events = (facts.history ?? []).filter((e) => e.at <= now).sort((a, b) => a.at - b.at);
  // A success after a decline shows the card works again: only what happened since counts as
  // "hard decline in the history" (e.g. the cardholder enabled international payments after a 57).
  let lastSuccess = -1;
  for (let i = events.length - 1; i >= 0; i--) {
    if (events[i].status === 'success') {
      lastSuccess = i;
      break;
    }
  }
  const sinceSuccess = events.slice(lastSuccess + 1);
  // A 57/62 answered to a cross-border order says "not enabled abroad": nothing about a domestic one.
  const hard = sinceSuccess.filter((e) => isHard(e) && !(order.crossBorder === false && e.crossBorder === true && isInternationalOnly(e)));
  if (hard.length > 0) {
    const latest = hard[hard.length - 1];
    if (order.crossBorder && hard.every(isInternationalOnly)) {
      return result('review', 'international_disabled', 'enable_international', latest.code);
    }
    return result('decline', 'hard_decline', 'use_another_card', latest.type === 'fraud' ? 'fraud' : latest.code ?? latest.advice ?? latest.type);
  }

  const limit = facts.brand ? RETRY_LIMITS[facts.brand] : undefined;
  if (limit) {
    const from = now - limit.windowSeconds;
    const attempts = events.filter((e) => e.at > from && countsAsAttempt(e)).length;
    if (attempts >= limit.maxAttempts) return result('decline', 'retry_limit', 'use_another_card', `${attempts}/${limit.maxAttempts}`);
  }

  // A filter hit is ~0.4% likely to be a false positive: never a decline, never an approval.
  if (facts.restrictedMaybe && !facts.restricted) return result('escalate', 'possibly_restricted', null);

  // The most recent answer about the card or its issuer (the gateway's own failures say nothing
  // about the card), when it is a soft decline still inside its window (response-codes.ts
  // SOFT_DECLINE_RULES: funds/limits 24 h and only for at least the declined amount, issuer
  // unavailable 5 min, ...). Generic declines (05) and unknown codes are not reviewed: routing
  // avoids the gateway that gave them.
  const last = [...events].reverse().find((e) => classifyOutcome(e).effect !== 'gateway');
  const rule = last && last.status === 'failure' ? (classifyOutcome(last).soft ?? undefined) : undefined;
  if (last && rule && now - last.at <= rule.windowSeconds) {
    const smaller = rule.amountBound && last.currency === order.currency && order.amount < last.amount;
    if (!smaller) return result('review', 'soft_decline', rule.prompt as PromptCode, last.code);
  }

  if (facts.knownGood) {
    if (dataState === 'fresh') return result('approve', 'known_good', null);
    return result('escalate', dataState === 'none' ? 'no_data' : 'stale_data', null);
  }
  if (stage === 'local') {
    if (dataState === 'none') return result('escalate', 'no_data', null);
    if (dataState === 'stale') return result('escalate', 'stale_data', null);
  }
  // Nothing known against the card: at stage "network" the caller's trust evaluation decides.
  return result('escalate', 'unknown_card', null);
}
