// The decision rules, shared by the device (stage "local") and the network service (stage
// "network") so both answer the same question the same way. Pure: no I/O, no clock (now is an
// input). RULES is an ordered table: the first rule that answers decides, nothing answering is
// "escalate, unknown card". The order follows the verification pipeline: expired card →
// restricted → BIN rule → hard decline in history (with the cross-border 57/62 exception) →
// retry limits → filter hit ("possibly restricted": escalate, never a decline by itself) →
// recent soft decline → known-good on fresh data → stale or missing data (local) → floor limit
// (local: an unknown card below the segment's floor, inside the device's budget) → escalate.
// Stale or missing data never approves.
//
// A new rule is one entry in RULES and one step of RULES_VERSION: devices report the version
// they run (INFO_RES) and datasets the version they were built for (manifest), so the bridge
// shows a device whose rules are older than the service's.
import { DECISIONS, FINAL_DECISIONS, type DatasetState, type Decision, type FinalDecision } from '../protocol/messages/catalogue.ts';
import type { BinAction, HistoryEvent } from '../protocol/dataset/types.ts';
import type { PromptCode } from './prompts.ts';
import { classifyOutcome, RETRY_LIMITS } from './response-codes.ts';
import { isExpired } from './expiry.ts';
import { roughMajorUsd } from './segment.ts';

export { DECISIONS, FINAL_DECISIONS, type Decision, type FinalDecision };

export type DecisionStage = 'local' | 'network';
export type DecisionReason =
  | 'card_expired'
  | 'restricted'
  | 'bin_rule'
  | 'hard_decline'
  | 'international_disabled'
  | 'retry_limit'
  | 'possibly_restricted'
  | 'soft_decline'
  | 'known_good'
  | 'floor_limit'
  | 'unknown_card'
  | 'stale_data'
  | 'no_data';

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
/**
 * What the device knows for the floor-limit rule (absent at stage "network": the service has the
 * customer context and its trust evaluation decides unknown cards there).
 */
export interface FloorFacts {
  /** the floor limit of the order's segment (brand × currency × region), minor units of the order's currency; 0 = none */
  limit: number;
  /** the device's rolling budget of unknown-card approvals still has room */
  budgetLeft: boolean;
  /** this order was verified on this device before: a second card, or this card again after an attempt that did not pay */
  repeatOrder: boolean;
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
  /** the card's expiry, when the caller has it */
  card?: { expMonth: number; expYear: number };
  /** unix seconds */
  now: number;
  dataState: DatasetState;
  stage: DecisionStage;
  /** the floor-limit facts (device only) */
  floor?: FloorFacts;
}
export interface DecisionResult {
  decision: Decision;
  reason: DecisionReason;
  promptCode: PromptCode | null;
  /** short machine detail for logs: the restricted/BIN reason, the response code, the limit. Never card data. */
  detail?: string;
}

/** What a rule sees: the input plus the history up to now, oldest first. */
export interface RuleContext extends DecisionInput {
  events: HistoryEvent[];
}
export interface Rule {
  /** stable name, for docs and tests */
  id: string;
  /** the answer when the rule applies, else null (the next rule is asked) */
  apply(ctx: RuleContext): DecisionResult | null;
}

/** The version of RULES; one step for every change of what a rule answers. */
export const RULES_VERSION = 5;

function result(decision: Decision, reason: DecisionReason, promptCode: PromptCode | null, detail?: string): DecisionResult {
  return detail === undefined ? { decision, reason, promptCode } : { decision, reason, promptCode, detail };
}

// Every question about an outcome goes through the one classification table
// (response-codes.ts classifyOutcome): the code decides, the gateway's type refines.
const isHard = (e: HistoryEvent): boolean => classifyOutcome(e).hard;
/** A hard decline that only means "not enabled for this kind of payment" (57/62, no fraud, no MAC 03/21). */
const isInternationalOnly = (e: HistoryEvent): boolean => classifyOutcome(e).internationalOnly;
/** Failures that count towards retry limits: the issuer declined the card (not issuer-unavailable, not the gateway's failure). */
const countsAsAttempt = (e: HistoryEvent) => classifyOutcome(e).countsAsAttempt;

type Money = { amount: number; currency: string };

/**
 * a < b: exactly in one currency; across currencies in the rough dollar-sized units the trust
 * limits and amount bands use (rules/segment.ts). Why: a shop takes orders in several currencies
 * and a customer's next order is often in another one; "not comparable, so review" asked a card
 * refused 59.65 USD to "try a smaller amount" for a 7.86 EUR basket (the simulator's fraud-wave,
 * a sale lost). A rough rate errs by tens of percent at most, which only matters for baskets near
 * the refused amount, where neither answer is sure.
 */
function lessThan(a: Money, b: Money): boolean {
  return a.currency === b.currency ? a.amount < b.amount : roughMajorUsd(a.amount, a.currency) < roughMajorUsd(b.amount, b.currency);
}

/**
 * A funds or limit decline (an amount-bound soft decline: 51, 61, 65, N4) inside its window, at an
 * amount no larger than this order's (lessThan), that no later approval of at least that
 * amount disproved — even when it is not the card's most recent answer. The balance that refused
 * 80.00 refuses 120.00 the same day, and an approval of 30.00 since (the customer took the "try a
 * smaller amount" prompt) or a generic 05 says nothing against that: only the most recent answer
 * counted before, so such an order was approved (`known_good`) and its attempt failed with 51 again
 * (the simulator's drift-outage: a card refused 58.87 was approved for 83.53 the same day; rare, about
 * one order in three scenario runs). An approval in another currency clears it (kept on the side of
 * approving); a decline in another currency is compared in rough dollar-sized units (lessThan).
 */
function standingFundsDecline(events: readonly HistoryEvent[], order: DecisionOrder, now: number): { prompt: string; code: string | undefined } | null {
  let approvedSince = 0; // the largest approval (order currency) newer than the event looked at
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    const c = classifyOutcome(e);
    if (c.effect === 'gateway') continue;
    if (e.status === 'success') {
      if (e.currency !== order.currency) return null;
      approvedSince = Math.max(approvedSince, e.amount);
      continue;
    }
    const rule = c.soft;
    if (!rule?.amountBound || now - e.at > rule.windowSeconds) continue;
    if (!lessThan(order, e) && lessThan({ amount: approvedSince, currency: order.currency }, e)) return { prompt: rule.prompt, code: e.code ?? undefined };
  }
  return null;
}

export const RULES: readonly Rule[] = [
  {
    id: 'card_expired',
    apply: ({ card, now }) => (card && isExpired(card.expMonth, card.expYear, now) ? result('decline', 'card_expired', 'check_card_details') : null),
  },
  {
    id: 'restricted',
    apply: ({ facts }) => (facts.restricted ? result('decline', 'restricted', 'use_another_card', facts.restricted.reason) : null),
  },
  {
    id: 'bin_rule',
    apply: ({ facts: { binRule } }) =>
      !binRule
        ? null
        : binRule.action === 'decline'
          ? result('decline', 'bin_rule', 'use_another_card', binRule.reason)
          : result('review', 'bin_rule', 'payment_review', binRule.reason),
  },
  {
    id: 'hard_decline',
    apply: ({ events, order }) => {
      // A success after a decline shows the card works again: only what happened since counts as
      // "hard decline in the history" (e.g. the cardholder enabled international payments after a 57).
      let lastSuccess = -1;
      for (let i = events.length - 1; i >= 0; i--) {
        if (events[i].status === 'success') {
          lastSuccess = i;
          break;
        }
      }
      // A 57/62 answered to a cross-border order says "not enabled abroad": nothing about a domestic one.
      const hard = events
        .slice(lastSuccess + 1)
        .filter((e) => isHard(e) && !(order.crossBorder === false && e.crossBorder === true && isInternationalOnly(e)));
      if (hard.length === 0) return null;
      const latest = hard[hard.length - 1];
      if (order.crossBorder && hard.every(isInternationalOnly)) return result('review', 'international_disabled', 'enable_international', latest.code);
      return result('decline', 'hard_decline', 'use_another_card', latest.type === 'fraud' ? 'fraud' : latest.code ?? latest.advice ?? latest.type);
    },
  },
  {
    id: 'retry_limit',
    apply: ({ facts, events, now }) => {
      const limit = facts.brand ? RETRY_LIMITS[facts.brand] : undefined;
      if (!limit) return null;
      const from = now - limit.windowSeconds;
      const attempts = events.filter((e) => e.at > from && countsAsAttempt(e)).length;
      return attempts >= limit.maxAttempts ? result('decline', 'retry_limit', 'use_another_card', `${attempts}/${limit.maxAttempts}`) : null;
    },
  },
  {
    // A filter hit is ~0.4% likely to be a false positive: never a decline, never an approval.
    id: 'possibly_restricted',
    apply: ({ facts }) => (facts.restrictedMaybe && !facts.restricted ? result('escalate', 'possibly_restricted', null) : null),
  },
  {
    // The most recent answer about the card or its issuer (the gateway's own failures say nothing
    // about the card), when it is a soft decline still inside its window (response-codes.ts
    // SOFT_DECLINE_RULES: funds/limits 24 h and only for at least the declined amount, issuer
    // unavailable 5 min, ...). Generic declines (05) and unknown codes are not reviewed: routing
    // avoids the gateway that gave them.
    id: 'soft_decline',
    apply: ({ events, order, now }) => {
      const last = [...events].reverse().find((e) => classifyOutcome(e).effect !== 'gateway');
      const rule = last && last.status === 'failure' ? (classifyOutcome(last).soft ?? undefined) : undefined;
      if (last && rule && now - last.at <= rule.windowSeconds) {
        const smaller = rule.amountBound && lessThan(order, last);
        if (!smaller) return result('review', 'soft_decline', rule.prompt as PromptCode, last.code);
      }
      const funds = standingFundsDecline(events, order, now);
      return funds ? result('review', 'soft_decline', funds.prompt as PromptCode, funds.code) : null;
    },
  },
  {
    id: 'known_good',
    apply: ({ facts, dataState }) =>
      !facts.knownGood ? null : dataState === 'fresh' ? result('approve', 'known_good', null) : result('escalate', dataState === 'none' ? 'no_data' : 'stale_data', null),
  },
  {
    // The device cannot tell an unknown card from data it lacks; the service's data is never stale.
    id: 'data_state',
    apply: ({ stage, dataState }) =>
      stage !== 'local' || dataState === 'fresh' ? null : result('escalate', dataState === 'none' ? 'no_data' : 'stale_data', null),
  },
  {
    // A payment terminal's floor limit: a card the dataset knows nothing against, at or below the
    // floor the service published for the order's segment, while the device's budget of such
    // approvals has room. Only the first verification of an order: a second card, or this card
    // again (the first attempt did not pay), goes to the network's velocity checks. Any failure in
    // the card's history also escalates (the rules above answered those they can).
    id: 'floor_limit',
    apply: ({ floor, stage, dataState, events, order, facts }) => {
      if (!floor || stage !== 'local' || dataState !== 'fresh' || facts.knownGood || facts.restrictedMaybe) return null;
      if (floor.limit <= 0 || order.amount > floor.limit || floor.repeatOrder || !floor.budgetLeft) return null;
      if (events.some((e) => e.status !== 'success')) return null;
      return result('approve', 'floor_limit', null, `${order.amount}<=${floor.limit}`);
    },
  },
];

/** Nothing known against the card: at stage "network" the caller's trust evaluation decides. */
const NO_RULE = result('escalate', 'unknown_card', null);

export function decide(input: DecisionInput, rules: readonly Rule[] = RULES): DecisionResult {
  const ctx: RuleContext = { ...input, events: (input.facts.history ?? []).filter((e) => e.at <= input.now).sort((a, b) => a.at - b.at) };
  let r = NO_RULE;
  for (const rule of rules) {
    const answer = rule.apply(ctx);
    if (answer) {
      r = answer;
      break;
    }
  }
  // Defence in depth for the one rule that must never break: stale or missing data cannot approve.
  if (r.decision === 'approve' && input.dataState !== 'fresh') {
    return result('escalate', input.dataState === 'none' ? 'no_data' : 'stale_data', null);
  }
  return r;
}
