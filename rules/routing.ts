// Which gateway to recommend from a ranked list, the same way on the device (offline, from its
// dataset), in the bridge (which overrides a device's pick with what it saw a moment ago) and in
// the service (server/routing, whose `avoid` list comes from declinedGateways below).
//
// - A gateway that is eliminated (its circuit breaker is open until a time still in the future)
//   is never recommended: an outage shows up as technical failures, and every order sent there
//   costs an attempt fee and a customer.
// - A gateway that declined THIS card (its latest issuer answer for the card was a failure) is
//   skipped while another gateway can take the order: a soft or generic decline (05, 51, 91 ...)
//   is often the issuer's view of that merchant/acquirer pair, and the retry belongs elsewhere.
//   If every remaining gateway declined the card, the best of them is still recommended: the
//   decision rules, not routing, decide whether the card may be tried again at all.
// - The mirror image: a gateway that APPROVED this card last time (its latest card-level answer
//   for the card was a success) takes the card again while its segment success rate is within
//   affinityGap() of the best gateway's (half its own decline rate). The issuer's view of the card × acquirer pair that made
//   a decline sticky makes an approval sticky too, and a shop that sends every attempt to one
//   gateway gets this for free: the simulator showed returning customers' cards, moved to the
//   segment's best gateway, losing more orders than they won against such a shop.

import { classifyOutcome } from './response-codes.ts';

/** An outcome of the card at a gateway, as the card history holds it. */
export interface GatewayAnswer {
  gateway?: string | null;
  status: string;
  code?: string | null;
  type?: string | null;
  advice?: string | null;
  /** unix seconds */
  at: number;
}

/** How long a decline keeps its gateway avoided for the card (the service's default). */
export const AVOID_DECLINED_SECONDS = 30 * 86400;

/**
 * Gateways whose latest card-level answer for this card was a failure at or after `since` (unix
 * s), sorted. Only card-level outcomes count (the classification table, response-codes.ts
 * classifyOutcome): the gateway's own failures (timeouts, gateway errors) are left to elimination
 * and an unavailable issuer (91, 96) is the same at every gateway, so they neither set nor clear
 * the mark. A decline is partly a property of the card at that acquirer (the issuer's risk view of
 * that merchant/acquirer pair), so a retry elsewhere has the better chance; a later success at the
 * gateway clears it.
 */
export function declinedGateways(events: ReadonlyArray<GatewayAnswer>, since: number): string[] {
  if (events.length === 0) return []; // a new card: every authentication of one asks
  const latest = new Map<string, { status: string; at: number }>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    if (!e.gateway) continue;
    const effect = classifyOutcome(e).effect;
    if (effect === 'gateway' || effect === 'issuer') continue;
    latest.set(e.gateway, { status: e.status, at: e.at });
  }
  return [...latest]
    .filter(([, v]) => v.status === 'failure' && v.at >= since)
    .map(([g]) => g)
    .sort();
}

/** How long an approval keeps its gateway preferred for the card. */
export const AFFINITY_SECONDS = 90 * 86400;
/**
 * How much of an acquirer's answer for a card is its standing view of that card rather than a
 * fresh decision: one half. Payment-retry vendors publish that a soft decline retried at the same
 * acquirer is recovered only about a quarter to a third of the time, against ~90 % acceptance for
 * a card it has not seen (bench/scenarios/README.md, declinePersistence), so a large part of an
 * answer repeats; an approval repeats for the same reason (the issuer's view of the card ×
 * acquirer pair, the card's network token and stored-credential reference on that acquirer path).
 * With a share s of the answer standing, the approving gateway's chance for this card is about
 * s + (1 − s) × p where p is its rate for a new card, so it is the better choice while the best
 * gateway's new-card rate exceeds p by less than s × (1 − p): see affinityGap. Half is the lower
 * end of what the retry figures imply (the simulator's market: 0.49 + 0.51 p), so a card moves
 * rather than stays when in doubt.
 */
export const APPROVAL_STICKINESS = 0.5;

/**
 * Largest success-rate gap (the best gateway's rate minus the approving gateway's `rate`, both a
 * new card's rate in the order's segment: the service's estimator counts a card's first answer at
 * a gateway only) at which the gateway that approved the card last time is still preferred:
 * APPROVAL_STICKINESS × (1 − rate). 2.5 points for a 95 % gateway, 8 for an 84 % one; a gateway
 * that drifted or degraded far below the best loses the card. It was a flat 2 points: cards
 * approved at a 90 % gateway then moved to a 95 % one where the approving gateway was likelier
 * (0.5 + 0.5 × 0.9 = 95 %), and in the simulator's calm market returning cards the device sent
 * away from the gateway that approved them failed with `05` about twice as often (7 % against
 * 3.5–4 % in four runs).
 */
export function affinityGap(rate: number): number {
  return APPROVAL_STICKINESS * (1 - rate);
}

/**
 * The gateway whose latest card-level answer for this card was a success at or after `since`, the
 * most recent such if several; null when none. Same classification as declinedGateways.
 */
export function approvedGateway(events: ReadonlyArray<GatewayAnswer>, since: number): string | null {
  if (events.length === 0) return null;
  const latest = new Map<string, { status: string; at: number }>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    if (!e.gateway) continue;
    const effect = classifyOutcome(e).effect;
    if (e.status !== 'success' && (effect === 'gateway' || effect === 'issuer')) continue;
    latest.set(e.gateway, { status: e.status, at: e.at });
  }
  let best: { gateway: string; at: number } | null = null;
  for (const [gateway, v] of latest) if (v.status === 'success' && v.at >= since && (!best || v.at > best.at)) best = { gateway, at: v.at };
  return best?.gateway ?? null;
}

/**
 * `ranked` (best first, with each gateway's segment success rate) with the card's approving
 * gateway moved to the front when its rate is within affinityGap(its rate) of the first one's; unchanged
 * otherwise (or when the gateway is not ranked, or a rate is unknown).
 */
export function withAffinity<T extends { gateway: string; successRate: number | null }>(ranked: readonly T[], approved: string | null): T[] {
  const i = approved === null ? -1 : ranked.findIndex((r) => r.gateway === approved);
  if (i <= 0) return [...ranked];
  const top = ranked[0].successRate;
  const mine = ranked[i].successRate;
  if (top === null || mine === null || top - mine > affinityGap(mine) + 1e-9) return [...ranked];
  return [ranked[i], ...ranked.slice(0, i), ...ranked.slice(i + 1)];
}

export interface RouteChoice {
  gateway: string | null;
  /** gateways passed over because they are eliminated now */
  skippedEliminated: string[];
  /** gateways passed over because they declined this card */
  skippedDeclined: string[];
}

/**
 * The first gateway of `ranked` (best first) that is not eliminated and did not decline the card,
 * else the first not eliminated; null when every one is eliminated.
 */
export function chooseGateway(ranked: readonly string[], eliminated: Iterable<string>, declined: Iterable<string>): RouteChoice {
  const out = new Set(eliminated);
  const avoid = new Set(declined);
  const open = ranked.filter((g) => !out.has(g));
  const preferred = open.find((g) => !avoid.has(g));
  const gateway = preferred ?? open[0] ?? null;
  const before = gateway === null ? ranked : ranked.slice(0, ranked.indexOf(gateway));
  return { gateway, skippedEliminated: before.filter((g) => out.has(g)), skippedDeclined: before.filter((g) => !out.has(g) && avoid.has(g)) };
}

/** Gateways whose elimination has not ended at `now` (unix s). */
export function eliminatedAt(health: ReadonlyArray<{ gateway: string; eliminatedUntil: number }>, now: number): string[] {
  return health.filter((h) => h.eliminatedUntil > now).map((h) => h.gateway);
}
