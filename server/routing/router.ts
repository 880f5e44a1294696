// Gateway routing, success first: per gateway per segment, a success rate over a sliding window
// of time buckets (hierarchical fallback to coarser segments, an exploration share, elimination on
// consecutive technical failures). The rate estimates what the gateway adds for a card it has not
// answered before: answers any gateway would give (GATEWAY_NEUTRAL_CODES) and a card's further
// answers at a gateway that already answered it stay out (see record()). The objective is the probability that the order gets paid: a fee
// decides only between gateways whose rates a two-proportion z-test cannot tell apart (see
// pickBest). A merchant may choose the 'value' objective instead (success × its margin − fee).
// Pure: no I/O, time and randomness are injectable.
import { classifyOutcome } from '../../rules/response-codes.ts';
import { FAILURE_TYPES, type FailureType, type HistoryStatus } from '../../protocol/dataset/types.ts';
import { AFFINITY_SECONDS, withAffinity } from '../../rules/routing.ts';
import { BucketWindow, type WindowOptions } from './sliding-window.ts';
import { EliminationTracker } from './elimination.ts';
import { BRAND_CURRENCY_LEVEL, SEGMENT_LEVELS, SHRINK_PARENT, WARMUP_LEVEL, segmentKeys, type RoutingObjective, type Segment, type SegmentLevel } from './segment.ts';
import { checkNowMs, systemNowMs, toUnixSeconds, type NowMs } from '../../runtime/clock.ts';

export type { RoutingObjective, Segment, SegmentLevel } from './segment.ts';

/** |z| at or above this: the two rates differ at the 95 % level (two-sided). */
export const Z_95 = 1.959964;

/**
 * Two-proportion z-test (pooled), two-sided at 95 %: whether success rates p1 (over n1 outcomes)
 * and p2 (over n2) differ by more than chance. With no outcomes on either side nothing is shown.
 */
export function ratesDiffer(p1: number, n1: number, p2: number, n2: number): boolean {
  if (!(n1 > 0 && n2 > 0)) return false;
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return p1 !== p2;
  return Math.abs(p1 - p2) / se >= Z_95;
}

export interface GatewayConfig {
  id: string;
  /** Fee per attempt, approved or not: fixed part in the order currency's minor units. */
  feeFixedMinor?: number;
  /** Fee per attempt: proportional part in basis points of the amount. */
  feeBps?: number;
}

export interface RouterOptions {
  /** Known gateways and their fees. Gateways seen only in outcomes are added with an unknown fee. */
  gateways?: readonly GatewayConfig[];
  bucketSeconds?: number; // default 300 (5 min)
  bucketCount?: number; // default 12 → a one-hour window
  /** Weight per bucket of age; default 0.9 (the newest bucket counts ~3× the oldest). 1 = plain rate. */
  decay?: number;
  /**
   * Outcomes a gateway's window reaches back for (bucket by bucket, up to maxLookbackSeconds) when
   * the segment's time window holds fewer (all gateways together), so low-volume merchants still
   * learn; default 200 (Hyperswitch's default bucket size is of that order); 0 = time only.
   */
  minWindowOutcomes?: number;
  /** How far back a window may reach for minWindowOutcomes; default 7 days. */
  maxLookbackSeconds?: number;
  /** Outcomes a gateway needs in a segment before its rate there is trusted; default 20. */
  minSamples?: number;
  /**
   * Prior strength, in outcomes, of a gateway's rate one level coarser on its rate in a finer
   * segment (hierarchical shrinkage: (rate × n + k × parent) / (n + k)); default 50, 0 = off.
   * 20–40 outcomes put a rate within ±10–15 points, so without it the "best" gateway of a fine
   * segment (issuer country × amount band) was mostly the luckiest: the simulator's calm market
   * sent 40 % of domestic orders to its worst gateway.
   */
  shrinkage?: number;
  /**
   * Share of recommendations sent to a non-best, non-eliminated gateway (under-sampled ones
   * first); default 0.05. Above 0 it also turns on warm-up: while fewer than two gateways have
   * minSamples in the order's region × currency segment, the least-sampled one is
   * recommended. 0 = pure exploitation (deterministic picks).
   */
  explorationShare?: number;
  /**
   * Default objective (a merchant's own setting overrides it per order, Segment.objective):
   * 'success' (default) or 'value' with valueBps as the margin.
   */
  objective?: 'success' | 'value';
  /**
   * Success objective: a fee may pick a cheaper gateway only when its rate is statistically
   * indistinguishable from the best one (z-test, 95 %) AND at most this far below it; default
   * 0.005 (half a point). With little data every rate is "indistinguishable": this keeps a fee from
   * buying a visible loss of sales while the evidence accumulates.
   */
  successTieGap?: number;
  /**
   * Value objective: values closer than this many points of success rate (× the order's margin)
   * are a tie, broken by fee; default 0.001 (0.1 point).
   */
  tieTolerance?: number;
  /**
   * Value objective's default margin: what a paid order is worth to the merchant, in basis points
   * of its amount; default 1500. An attempt's expected value is successRate × amount × valueBps /
   * 10 000 − fee, so a dearer gateway wins only when its extra success is worth more than its fee.
   */
  valueBps?: number;
  consecutiveFailures?: number; // technical failures in a row that eliminate; default 5
  /**
   * Also eliminate on technicalWindowFailures technical failures among a gateway's last
   * technicalWindowAnswers answers (a partial outage; server/routing/elimination.ts); defaults 3 of
   * 5, 0 = off.
   */
  technicalWindowAnswers?: number;
  technicalWindowFailures?: number;
  coolDownSeconds?: number; // elimination cool-down before a probe; default 300
  /** Outcomes stamped further in the future than this are refused; default 300 s. */
  maxFutureSkewSeconds?: number;
  /**
   * How long a card's first counted answer at a gateway keeps the card's later answers there out
   * of the gateway's rate (RoutingOutcome.card); default 90 days, the affinity horizon
   * (rules/routing.ts AFFINITY_SECONDS): that long a card goes back to the gateway that approved it.
   */
  cardMemorySeconds?: number;
  /** Most card × gateway pairs remembered for that (the oldest go first); default 500 000. */
  cardMemoryMax?: number;
  rng?: () => number; // [0, 1); default Math.random
  clock?: NowMs; // wall clock, ms (runtime/clock.ts); outcome times and windows are Unix seconds
}

export interface RoutingOutcome {
  gateway: string;
  brand: string;
  issuerCountry?: string | null;
  crossBorder?: boolean | null;
  currency: string;
  amount: number; // minor units
  status: HistoryStatus;
  type?: FailureType | null;
  code?: string | null;
  at: number; // unix seconds
  /**
   * An opaque key of the card (the service: a prefix of the card token in hex; never the number),
   * or null/absent when unknown (then every answer counts as a new card's).
   */
  card?: string | null;
}

export interface Recommendation {
  gateway: string | null;
  successRate: number | null; // decay-weighted rate of the returned gateway at `segmentLevel`
  explored: boolean; // true when this pick is exploration or an elimination probe, not the best
  eliminated: string[];
  segmentLevel: SegmentLevel | 'none';
}

export interface RouteRow {
  brand: string;
  currency: string;
  gateway: string;
  successRate: number;
  samples: number;
  /**
   * Expected value of one attempt in minor units at the segment's mean recorded amount (see
   * RouterOptions.valueBps); null when the gateway's fee is unknown. Rows of one brand × currency
   * are ordered best first by it (by rate where it is null).
   */
  expectedValue: number | null;
}

export interface RouterStats {
  recorded: number;
  droppedStale: number; // older than the window when they arrived
  droppedFuture: number; // stamped too far in the future
  repeats: number; // answers of a card at a gateway that had answered it before: not in the rate
  recommendations: number;
  explored: number;
  probes: number;
  warmups: number; // explored picks made to bring a gateway to minSamples in a segment
  avoided: number; // recommendations that skipped a gateway which had declined the card
  affinity: number; // recommendations of the gateway that approved the card last (Segment.prefer)
  segments: number; // segment keys currently tracked (all levels)
  gateways: string[];
  eliminated: string[]; // not routable now (cool-down running or probe in flight)
  breakers: Array<{ gateway: string; until: number }>; // opened breakers and when their cool-down ends
}

interface Candidate {
  gateway: string;
  rate: number | null; // decay-weighted success rate
  n: number; // raw outcomes in the window
  s: number; // raw successes in the window
}

const DEFAULTS = {
  bucketSeconds: 300,
  bucketCount: 12,
  decay: 0.9,
  minWindowOutcomes: 200,
  maxLookbackSeconds: 7 * 86400,
  minSamples: 20,
  shrinkage: 50,
  explorationShare: 0.05,
  tieTolerance: 0.001,
  successTieGap: 0.005,
  valueBps: 1500,
  objective: 'success' as 'success' | 'value',
  consecutiveFailures: 5,
  coolDownSeconds: 300,
  maxFutureSkewSeconds: 300,
  cardMemorySeconds: AFFINITY_SECONDS,
  cardMemoryMax: 500_000,
};

const PRUNE_EVERY = 1024;

function checkPositive(name: string, v: number, integer: boolean): void {
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new RangeError(`router option ${name} must be a positive ${integer ? 'integer' : 'number'}`);
}

export class GatewayRouter {
  private readonly win: WindowOptions;
  private readonly lookbackBuckets: number;
  private readonly minWindowOutcomes: number;
  private readonly minSamples: number;
  private readonly shrinkage: number;
  private readonly explorationShare: number;
  private readonly tieTolerance: number;
  private readonly successTieGap: number;
  private readonly valueBps: number;
  private readonly objective: RoutingObjective;
  private readonly coolDown: number;
  private readonly maxFutureSkew: number;
  private readonly rng: () => number;
  private readonly clock: NowMs;
  private readonly fees = new Map<string, GatewayConfig>();
  private readonly known = new Set<string>();
  /** segment key → gateway → window */
  private readonly windows = new Map<string, Map<string, BucketWindow>>();
  /** brand+currency keys → their parts, for routesTable */
  private readonly brandCurrency = new Map<string, { brand: string; currency: string; amountSum: number; orders: number }>();
  private readonly elimination: EliminationTracker;
  /** card key + gateway → time of the card's latest counted answer there (insertion order = age). */
  private readonly cardAnswers = new Map<string, number>();
  private readonly cardMemorySeconds: number;
  private readonly cardMemoryMax: number;
  private readonly counters = { recorded: 0, droppedStale: 0, droppedFuture: 0, repeats: 0, recommendations: 0, explored: 0, probes: 0, warmups: 0, avoided: 0, affinity: 0 };

  constructor(opts: RouterOptions = {}) {
    const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & RouterOptions;
    checkPositive('bucketSeconds', o.bucketSeconds, false);
    checkPositive('bucketCount', o.bucketCount, true);
    checkPositive('minSamples', o.minSamples, true);
    checkPositive('consecutiveFailures', o.consecutiveFailures, true);
    checkPositive('coolDownSeconds', o.coolDownSeconds, false);
    if (!(o.decay > 0 && o.decay <= 1)) throw new RangeError('router option decay must be in (0, 1]');
    if (!(o.explorationShare >= 0 && o.explorationShare < 1)) throw new RangeError('router option explorationShare must be in [0, 1)');
    if (!(o.tieTolerance >= 0)) throw new RangeError('router option tieTolerance must be >= 0');
    checkPositive('valueBps', o.valueBps, false);
    if (!(o.successTieGap >= 0 && o.successTieGap < 1)) throw new RangeError('router option successTieGap must be in [0, 1)');
    if (o.objective !== 'success' && o.objective !== 'value') throw new RangeError("router option objective must be 'success' or 'value'");
    if (!(Number.isInteger(o.minWindowOutcomes) && o.minWindowOutcomes >= 0)) throw new RangeError('router option minWindowOutcomes must be a non-negative integer');
    checkPositive('maxLookbackSeconds', o.maxLookbackSeconds, false);
    this.win = {
      bucketSeconds: o.bucketSeconds,
      bucketCount: o.bucketCount,
      decay: o.decay,
      minOutcomes: o.minWindowOutcomes,
      maxLookbackBuckets: Math.max(o.bucketCount, Math.ceil(o.maxLookbackSeconds / o.bucketSeconds)),
    };
    this.lookbackBuckets = new BucketWindow(this.win).lookbackBuckets;
    this.minWindowOutcomes = o.minWindowOutcomes;
    this.minSamples = o.minSamples;
    if (!(Number.isFinite(o.shrinkage) && o.shrinkage >= 0)) throw new RangeError('router option shrinkage must be >= 0');
    this.shrinkage = o.shrinkage;
    this.explorationShare = o.explorationShare;
    this.tieTolerance = o.tieTolerance;
    this.valueBps = o.valueBps;
    this.successTieGap = o.successTieGap;
    this.objective = o.objective === 'value' ? { kind: 'value', marginBps: o.valueBps } : { kind: 'success' };
    this.coolDown = o.coolDownSeconds;
    this.maxFutureSkew = o.maxFutureSkewSeconds;
    checkPositive('cardMemorySeconds', o.cardMemorySeconds, false);
    checkPositive('cardMemoryMax', o.cardMemoryMax, true);
    this.cardMemorySeconds = o.cardMemorySeconds;
    this.cardMemoryMax = o.cardMemoryMax;
    this.rng = o.rng ?? Math.random;
    this.clock = o.clock ? checkNowMs(o.clock, 'RouterOptions.clock') : systemNowMs;
    for (const k of ['technicalWindowAnswers', 'technicalWindowFailures'] as const) {
      const v = o[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new RangeError(`router option ${k} must be a non-negative integer`);
    }
    this.elimination = new EliminationTracker({
      consecutiveFailures: o.consecutiveFailures,
      coolDownSeconds: o.coolDownSeconds,
      windowAnswers: o.technicalWindowAnswers,
      windowFailures: o.technicalWindowFailures,
    });
    for (const g of o.gateways ?? []) {
      if (typeof g.id !== 'string' || g.id.length === 0) throw new RangeError('gateway id must be a non-empty string');
      this.fees.set(g.id, g);
      this.known.add(g.id);
    }
  }

  /** Replaces the configured gateways and fees (admin changes); learned data is kept. */
  setGateways(gateways: readonly GatewayConfig[]): void {
    this.fees.clear();
    for (const g of gateways) {
      if (typeof g.id !== 'string' || g.id.length === 0) throw new RangeError('gateway id must be a non-empty string');
      this.fees.set(g.id, g);
      this.known.add(g.id);
    }
  }

  /**
   * Oldest time (unix s) an outcome can still count at `now`: the start of the lookback (the time
   * window when minWindowOutcomes is 0). Older outcomes are dropped; replay starts here.
   */
  windowStart(now: number = toUnixSeconds(this.clock())): number {
    return (BucketWindow.bucketIndex(now, this.win.bucketSeconds) - this.lookbackBuckets + 1) * this.win.bucketSeconds;
  }

  /**
   * Counts one gateway outcome. Late outcomes go into the bucket of their own timestamp while it is
   * still in the window; older ones are dropped (counted in stats). Throws RangeError on malformed input.
   */
  record(o: RoutingOutcome): void {
    validateOutcome(o);
    const now = toUnixSeconds(this.clock());
    if (o.at < this.windowStart(now)) {
      this.counters.droppedStale++;
      return;
    }
    if (o.at > now + this.maxFutureSkew) {
      this.counters.droppedFuture++;
      return;
    }
    this.known.add(o.gateway);
    const success = o.status === 'success';
    const keys = segmentKeys(o);
    // Timeouts of a gateway whose breaker is already open (failed probes) are the elimination's
    // business: counting them in the rate too would keep a recovered gateway down for a whole
    // window after its outage. The failures that opened the breaker do count.
    // The gateway's own failure per the classification table (rules/response-codes.ts):
    // a 91 is the issuer's whether or not the gateway typed it 'technical'; a TIMEOUT is the gateway's.
    const cls = classifyOutcome(o);
    const technical = !success && cls.effect === 'gateway';
    // A stolen card refused (07/41/43, or the gateway's own fraud screen: 59, type fraud) is not
    // a sale the gateway lost: counted as a failure, the gateway that screens out more fraud
    // ranked lower and got the unknown cards, so fraud waves moved traffic to the gateway that
    // lets most fraud through (the fraud-wave simulation: beta refuses 45 % of stolen cards,
    // alpha 25 %; during the wave alpha took the cross-border orders beta wins by 9 points).
    // Answers any gateway would give (rules/response-codes.ts GATEWAY_NEUTRAL_CODES: 57 not enabled
    // abroad, 51 funds, 54 expired, 14 no such number, 91 issuer down ...) say nothing about the
    // gateway: counted, they lowered whichever gateway took new cards first.
    // A card's further answers at a gateway that answered it before are not a new card's either:
    // a decline at an acquirer tends to repeat there, and so does an approval (the simulator's
    // market: 0.49 + 0.51 p for a repeat against p for a new card), and returning cards go back to
    // the gateway that approved them (affinity). Counted, they inflated the gateway that held the
    // returning customers; the replay of a fraud-wave run measured cross-border Visa at ~86 % for
    // alpha and beta alike where the market gives 84 % and 93 %. So the rate is that of a card's
    // first answer at the gateway: what routing a card there adds. Technical failures always count.
    const repeat = !technical && !cls.gatewayNeutral && !cls.fraudEvidence && this.seenBefore(o);
    const skipRate = (technical && this.elimination.health(o.gateway, o.at) !== 'healthy') || cls.fraudEvidence || cls.gatewayNeutral || repeat;
    for (const key of skipRate ? [] : keys) {
      if (key === '') continue; // a level the outcome has no key at (segmentKeys)
      let byGw = this.windows.get(key);
      if (!byGw) {
        byGw = new Map();
        this.windows.set(key, byGw);
      }
      let w = byGw.get(o.gateway);
      if (!w) {
        w = new BucketWindow(this.win);
        byGw.set(o.gateway, w);
      }
      w.add(o.at, success, technical);
    }
    // Mean amount per brand × currency: routesTable has no order amount, it values routes at this.
    const bcKey = keys[BRAND_CURRENCY_LEVEL];
    const bc = this.brandCurrency.get(bcKey) ?? { brand: o.brand.toLowerCase(), currency: o.currency.toUpperCase(), amountSum: 0, orders: 0 };
    bc.amountSum += o.amount;
    bc.orders++;
    this.brandCurrency.set(bcKey, bc);
    // Only recent failures can open the breaker: a batch of old timeouts flushed from an outbox
    // after a network outage says nothing about the gateway now.
    if (o.at >= now - this.coolDown && this.elimination.record(o.gateway, technical, o.at) === 'recovered') {
      // Processed answers in a row after the breaker closed: the outage is over. Its timeouts say
      // nothing about what issuers answer through this gateway; kept in the rate they would hold a
      // better gateway below a worse one for a whole window after the outage (no traffic back).
      for (const byGw of this.windows.values()) byGw.get(o.gateway)?.forgetTechnical();
    }
    if (++this.counters.recorded % PRUNE_EVERY === 0) this.prune(now);
  }

  /**
   * Whether the card had a counted answer at this gateway within cardMemorySeconds before this
   * one; remembers this answer either way. False without a card key.
   */
  private seenBefore(o: RoutingOutcome): boolean {
    if (!o.card) return false;
    const k = `${o.card}\u0000${o.gateway}`;
    const prev = this.cardAnswers.get(k);
    const seen = prev !== undefined && prev >= o.at - this.cardMemorySeconds;
    this.cardAnswers.delete(k); // re-inserted last: Map order is then oldest answer first
    this.cardAnswers.set(k, prev === undefined ? o.at : Math.max(prev, o.at));
    if (this.cardAnswers.size > this.cardMemoryMax) this.cardAnswers.delete(this.cardAnswers.keys().next().value!);
    if (seen) this.counters.repeats++;
    return seen;
  }

  /** Replays stored outcomes (e.g. at startup) in time order, so consecutive-failure runs are right. */
  recordMany(outcomes: Iterable<RoutingOutcome>): void {
    const sorted = [...outcomes].sort((a, b) => a.at - b.at);
    for (const o of sorted) this.record(o);
  }

  recommend(seg: Segment, now: number = toUnixSeconds(this.clock())): Recommendation {
    validateSegment(seg);
    const objective = seg.objective ?? this.objective;
    this.counters.recommendations++;
    const pool = seg.eligible ? [...new Set(seg.eligible)] : [...this.known];
    pool.sort();
    const eliminated = this.elimination.eliminated(now);
    const elimSet = new Set(eliminated);
    // A gateway that declined this card is skipped while another one can take the order.
    const avoid = new Set(seg.avoid ?? []);
    const open = pool.filter((g) => !elimSet.has(g) || this.elimination.health(g, now) === 'probe-due');
    let candidates = pool;
    if (avoid.size > 0 && open.some((g) => !avoid.has(g))) {
      candidates = pool.filter((g) => !avoid.has(g));
      if (candidates.length < pool.length) this.counters.avoided++;
    }
    const keys = segmentKeys(seg);
    // A half-open gateway gets one probe as soon as its cool-down ends, without waiting for the
    // exploration coin: that is how the end of an outage is noticed quickly.
    const probe = candidates.find((g) => this.elimination.health(g, now) === 'probe-due');
    if (probe !== undefined) {
      this.elimination.markProbeSent(probe, now);
      this.counters.probes++;
      this.counters.explored++;
      let rate: number | null = null;
      let level: SegmentLevel | 'none' = 'none';
      for (let i = 0; i < keys.length && rate === null; i++) {
        const c = this.rateAt(keys[i], probe, now);
        if (c.n >= this.minSamples) [rate, level] = [c.rate, SEGMENT_LEVELS[i]];
      }
      return { gateway: probe, successRate: rate, explored: true, eliminated, segmentLevel: level };
    }
    const available = candidates.filter((g) => !elimSet.has(g));
    if (available.length === 0) return { gateway: null, successRate: null, explored: false, eliminated, segmentLevel: 'none' };

    const needed = Math.min(2, available.length);
    type Level = { level: SegmentLevel; all: Candidate[]; ranked: Candidate[]; smoothed: boolean };
    let chosen: Level | null = null;
    let qualifiedFallback: Level | null = null;
    let sparseFallback: Level | null = null;
    const levelRates = new Map(available.map((g) => [g, this.levelRates(keys, g, now)]));
    for (let i = 0; i < keys.length && !chosen; i++) {
      const all = available.map((g) => levelRates.get(g)![i]);
      const qualified = all.filter((c) => c.n >= this.minSamples);
      if (qualified.length >= needed) chosen = { level: SEGMENT_LEVELS[i], all, ranked: qualified, smoothed: false };
      else if (!qualifiedFallback && qualified.length > 0) qualifiedFallback = { level: SEGMENT_LEVELS[i], all, ranked: qualified, smoothed: false };
      else if (!sparseFallback && all.some((c) => c.n > 0)) sparseFallback = { level: SEGMENT_LEVELS[i], all, ranked: all.filter((c) => c.n > 0), smoothed: true };
    }
    // Fewer than minSamples everywhere: the finest level with any data, ranked by a Laplace-smoothed
    // rate (s+1)/(n+2), so 2/2 beats 1/2 but 1/1 does not beat 19/20.
    chosen ??= qualifiedFallback ?? sparseFallback;

    let best: Candidate;
    let level: SegmentLevel | 'none';
    let byGateway: Map<string, Candidate>;
    if (chosen) {
      best = this.pickBest(chosen.ranked, seg.amount, chosen.smoothed, objective);
      level = chosen.level;
      byGateway = new Map(chosen.all.map((c) => [c.gateway, c]));
    } else {
      // Nothing known in this currency: the cheapest gateway, and exploration spreads the rest.
      best = this.pickBest(available.map((g) => ({ gateway: g, rate: 0, n: 0, s: 0 })), seg.amount, false, objective);
      best = { gateway: best.gateway, rate: null, n: best.n, s: best.s };
      level = 'none';
      byGateway = new Map();
    }

    // The gateway that approved this card last keeps it while its rate is close to the best's
    // (rules/routing.ts withAffinity), and such an order is neither warm-up nor exploration: its
    // proven card × acquirer pairing is worth more than a measurement.
    const prefer = seg.prefer;
    if (prefer && chosen && available.includes(prefer) && !avoid.has(prefer)) {
      const c = byGateway.get(prefer);
      const rateOf = (x: Candidate | undefined) => (!x || x.n === 0 ? null : chosen!.smoothed ? (x.s + 1) / (x.n + 2) : x.n >= this.minSamples ? x.rate : null);
      const bestRate = rateOf(byGateway.get(best.gateway)) ?? best.rate;
      const ranked = withAffinity(
        [
          { gateway: best.gateway, successRate: bestRate },
          { gateway: prefer, successRate: prefer === best.gateway ? bestRate : rateOf(c) },
        ],
        prefer,
      );
      if (ranked[0].gateway === prefer) {
        this.counters.affinity++;
        return { gateway: prefer, successRate: c?.rate ?? null, explored: false, eliminated, segmentLevel: level };
      }
    }

    if (this.explorationShare > 0 && available.length > 1) {
      // Warm-up: a comparison needs two gateways measured in the order's region × currency
      // segment. Until then the least-sampled gateway there is tried (ties: cheaper first), as a
      // bandit pulls every arm before it trusts any; otherwise the first gateway to look good
      // would keep all traffic and the others would never be measured ("lock-in"). Not the
      // best-rated short gateway (tried, 387a765): in a calm simulation run the best gateway's
      // first answers in the cross-border segment were 0 of 2, so warm-up passed it over, and the
      // cheapest, weaker gateway took most of the traffic for a day and a half.
      // (An order of unknown region has no region key: its region × currency segment is warmed.)
      const warmKey = keys[WARMUP_LEVEL] || keys[WARMUP_LEVEL - 1];
      const warm = available.map((g) => this.rateAt(warmKey, g, now));
      if (warm.filter((c) => c.n >= this.minSamples).length < needed) {
        const under = warm.filter((c) => c.n < this.minSamples);
        const g = this.leastSampled(under, seg.amount);
        this.counters.explored++;
        this.counters.warmups++;
        return { gateway: g, successRate: byGateway.get(g)?.rate ?? null, explored: g !== best.gateway || level === 'none', eliminated, segmentLevel: level };
      }
      const others = available.filter((g) => g !== best.gateway);
      if (this.rng() < this.explorationShare) {
        // Exploration goes first to a gateway still short of minSamples in the warm-up segment.
        const short = warm.filter((c) => c.gateway !== best.gateway && c.n < this.minSamples);
        const g = short.length > 0 ? this.leastSampled(short, seg.amount) : others[Math.min(others.length - 1, Math.floor(this.rng() * others.length))];
        this.counters.explored++;
        return { gateway: g, successRate: byGateway.get(g)?.rate ?? null, explored: true, eliminated, segmentLevel: level };
      }
    }
    return { gateway: best.gateway, successRate: best.rate, explored: false, eliminated, segmentLevel: level };
  }

  private leastSampled(cands: Candidate[], amount: number): string {
    let best = cands[0];
    for (const c of cands.slice(1)) {
      if (c.n < best.n) best = c;
      else if (c.n === best.n) {
        const fc = this.feeFor(c.gateway, amount);
        const fb = this.feeFor(best.gateway, amount);
        if (fc < fb || (fc === fb && c.gateway < best.gateway)) best = c;
      }
    }
    return best.gateway;
  }

  /**
   * Success rate per brand × currency × gateway, for the device dataset; within a brand × currency
   * the rows are ranked like recommend() ranks gateways under the default objective (at the
   * segment's mean amount), best first.
   */
  routesTable(now: number = toUnixSeconds(this.clock())): RouteRow[] {
    const rows: RouteRow[] = [];
    for (const [key, bc] of this.brandCurrency) {
      const byGw = this.windows.get(key);
      if (!byGw) continue;
      const amount = bc.orders > 0 ? Math.round(bc.amountSum / bc.orders) : 0;
      const group: Candidate[] = [];
      for (const [gateway, w] of byGw) {
        const r = w.rate(now, this.lowVolume(byGw, now));
        if (r.rate === null) continue;
        group.push({ gateway, rate: r.rate, n: r.successes + r.failures, s: r.successes });
      }
      // Selection by the same comparison as recommend(), so the first row is the gateway it would pick.
      while (group.length > 0) {
        const best = this.pickBest(group, amount, false, this.objective);
        group.splice(group.indexOf(best), 1);
        const rate = best.rate ?? 0;
        const fee = this.feeFor(best.gateway, amount);
        rows.push({
          brand: bc.brand,
          currency: bc.currency,
          gateway: best.gateway,
          successRate: rate,
          samples: best.n,
          expectedValue: Number.isFinite(fee) ? this.valueOf(rate, fee, amount) : null,
        });
      }
    }
    // Stable sort: groups by brand, currency; the ranking inside a group is kept.
    return rows.sort((a, b) => cmp(a.brand, b.brand) || cmp(a.currency, b.currency));
  }

  /**
   * The gateways of `seg` in the order recommend() prefers them, without exploration, warm-up,
   * probes or counters — what a device may follow offline (server/datasets/routes.ts). Each pick is
   * recommend()'s own comparison (pickBest) at the level recommend() would use; eliminated gateways
   * are ranked too (the dataset's health section says until when to skip them).
   */
  ranking(seg: Segment, now: number = toUnixSeconds(this.clock())): Array<{ gateway: string; successRate: number | null; level: SegmentLevel | 'none' }> {
    validateSegment(seg);
    const objective = seg.objective ?? this.objective;
    const keys = segmentKeys(seg);
    let left = (seg.eligible ? [...new Set(seg.eligible)] : [...this.known]).sort();
    const out: Array<{ gateway: string; successRate: number | null; level: SegmentLevel | 'none' }> = [];
    while (left.length > 0) {
      const needed = Math.min(2, left.length);
      type Pick = { c: Candidate; level: SegmentLevel; smoothed: boolean; ranked: Candidate[] };
      let pick: Pick | null = null;
      let qualifiedFallback: Pick | null = null;
      let sparseFallback: Pick | null = null;
      const levelRates = new Map(left.map((g) => [g, this.levelRates(keys, g, now)]));
      for (let i = 0; i < keys.length && !pick; i++) {
        const all = left.map((g) => levelRates.get(g)![i]);
        const qualified = all.filter((c) => c.n >= this.minSamples);
        const level = SEGMENT_LEVELS[i];
        if (qualified.length >= needed) pick = { c: qualified[0], level, smoothed: false, ranked: qualified };
        else if (!qualifiedFallback && qualified.length > 0) qualifiedFallback = { c: qualified[0], level, smoothed: false, ranked: qualified };
        else if (!sparseFallback && all.some((c) => c.n > 0)) sparseFallback = { c: all[0], level, smoothed: true, ranked: all.filter((c) => c.n > 0) };
      }
      pick ??= qualifiedFallback ?? sparseFallback;
      const best = pick
        ? this.pickBest(pick.ranked, seg.amount, pick.smoothed, objective)
        : { ...this.pickBest(left.map((g) => ({ gateway: g, rate: 0, n: 0, s: 0 })), seg.amount, false, objective), rate: null };
      out.push({ gateway: best.gateway, successRate: best.rate, level: pick ? pick.level : 'none' });
      left = left.filter((g) => g !== best.gateway);
    }
    return out;
  }

  stats(now: number = toUnixSeconds(this.clock())): RouterStats {
    return {
      ...this.counters,
      segments: this.windows.size,
      gateways: [...this.known].sort(),
      eliminated: this.elimination.eliminated(now),
      breakers: this.elimination.openUntil(),
    };
  }

  /** Fee of one attempt in minor units; unknown fees sort last in a tie. */
  feeFor(gateway: string, amount: number): number {
    const f = this.fees.get(gateway);
    if (!f) return Number.POSITIVE_INFINITY;
    return (f.feeFixedMinor ?? 0) + (amount * (f.feeBps ?? 0)) / 10_000;
  }

  /**
   * The gateway's candidate at every level of `keys` (finest first), each rate shrunk towards the
   * gateway's (shrunk) rate one level coarser with a prior of `shrinkage` outcomes; raw counts kept.
   */
  private levelRates(keys: readonly string[], gateway: string, now: number): Candidate[] {
    const raw = keys.map((k) => this.rateAt(k, gateway, now));
    if (this.shrinkage === 0) return raw;
    const out: Candidate[] = new Array(raw.length);
    // Coarsest first: a level's prior is its nearest coarser containing level with data (SHRINK_PARENT).
    for (let i = raw.length - 1; i >= 0; i--) {
      const c = raw[i];
      if (c.rate === null || c.n === 0) {
        out[i] = c;
        continue;
      }
      let p = SHRINK_PARENT[i] ?? null;
      while (p !== null && (out[p].rate === null || out[p].n === 0)) p = SHRINK_PARENT[p] ?? null;
      const parent = p === null ? null : out[p].rate!;
      out[i] = { gateway: c.gateway, rate: parent === null ? c.rate : (c.rate * c.n + this.shrinkage * parent) / (c.n + this.shrinkage), n: c.n, s: c.s };
    }
    return out;
  }

  private rateAt(key: string, gateway: string, now: number): Candidate {
    const byGw = this.windows.get(key);
    const w = byGw?.get(gateway);
    if (!byGw || !w) return { gateway, rate: null, n: 0, s: 0 };
    // While a breaker's recovery is being confirmed the gateway is rated without its timeouts
    // (one more timeout re-opens the breaker at once), so it gets the traffic that confirms it.
    const r = w.rate(now, this.lowVolume(byGw, now), this.elimination.isRecovering(gateway));
    return { gateway, rate: r.rate, n: r.successes + r.failures, s: r.successes };
  }

  /** A segment whose time window holds fewer than minWindowOutcomes outcomes (all gateways) reaches back. */
  private lowVolume(byGw: Map<string, BucketWindow>, now: number): boolean {
    if (this.minWindowOutcomes === 0) return false;
    let n = 0;
    for (const w of byGw.values()) {
      n += w.windowCount(now);
      if (n >= this.minWindowOutcomes) return false;
    }
    return true;
  }

  /** Expected value of one attempt in minor units at the default margin (valueBps), minus the fee. */
  private valueOf(rate: number, fee: number, amount: number): number {
    return (rate * amount * this.valueBps) / 10_000 - fee;
  }

  /** The best candidate under the objective (see pickBySuccess / pickByValue). */
  private pickBest(cands: Candidate[], amount: number, smoothed: boolean, objective: RoutingObjective): Candidate {
    const score = (c: Candidate): number => (smoothed ? (c.s + 1) / (c.n + 2) : (c.rate ?? -1));
    return objective.kind === 'value' ? this.pickByValue(cands, amount, score, objective.marginBps) : this.pickBySuccess(cands, amount, score);
  }

  /**
   * Success first. The leader is the best success rate. A cheaper gateway may take its place only
   * when a two-proportion z-test (pooled, two-sided, 95 %: |z| < 1.96, on the decay-weighted rates
   * with the raw outcome counts as sample sizes) cannot tell its rate from the leader's, and its
   * rate is at most successTieGap below. Among those the cheapest wins (unknown fees last), then
   * the better rate, then the name.
   */
  private pickBySuccess(cands: Candidate[], amount: number, score: (c: Candidate) => number): Candidate {
    let leader = cands[0];
    for (const c of cands.slice(1)) {
      const d = score(c) - score(leader);
      if (d > 0 || (d === 0 && this.feeFor(c.gateway, amount) < this.feeFor(leader.gateway, amount)) || (d === 0 && this.feeFor(c.gateway, amount) === this.feeFor(leader.gateway, amount) && c.gateway < leader.gateway)) leader = c;
    }
    let best = leader;
    for (const c of cands) {
      if (c === leader) continue;
      const gap = score(leader) - score(c);
      if (gap > this.successTieGap || ratesDiffer(score(leader), leader.n, score(c), c.n)) continue;
      const fc = this.feeFor(c.gateway, amount);
      const fb = this.feeFor(best.gateway, amount);
      const dr = score(c) - score(best);
      if (fc < fb || (fc === fb && (dr > 0 || (dr === 0 && c.gateway < best.gateway)))) best = c;
    }
    return best;
  }

  /**
   * The merchant's value objective: the best expected value of an attempt. The tolerance is
   * tieTolerance points of success on this order's margin, so with equal fees this is exactly "best
   * rate, ties by fee". Where a fee is unknown the value cannot be computed: rate decides, unknown
   * fee last in a tie.
   */
  private pickByValue(cands: Candidate[], amount: number, score: (c: Candidate) => number, marginBps: number): Candidate {
    const margin = (amount * marginBps) / 10_000;
    let best = cands[0];
    for (const c of cands.slice(1)) {
      const fc = this.feeFor(c.gateway, amount);
      const fb = this.feeFor(best.gateway, amount);
      const known = Number.isFinite(fc) && Number.isFinite(fb);
      const d = known ? score(c) * margin - fc - (score(best) * margin - fb) : score(c) - score(best);
      const tol = known ? this.tieTolerance * margin : this.tieTolerance;
      if (d > tol) best = c;
      else if (d >= -tol) {
        // Tie: the cheaper attempt, then the better rate, then the name (deterministic).
        const dr = score(c) - score(best);
        if (fc < fb || (fc === fb && (dr > 0 || (dr === 0 && c.gateway < best.gateway)))) best = c;
      }
    }
    return best;
  }

  private prune(now: number): void {
    for (const [key, byGw] of this.windows) {
      for (const [g, w] of byGw) if (w.prune(now) === 0) byGw.delete(g);
      if (byGw.size === 0) {
        this.windows.delete(key);
        this.brandCurrency.delete(key);
      }
    }
    // Oldest first (see seenBefore): stop at the first card answer still remembered.
    for (const [k, at] of this.cardAnswers) {
      if (at >= now - this.cardMemorySeconds) break;
      this.cardAnswers.delete(k);
    }
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const CURRENCY = /^[A-Za-z]{3}$/;
const COUNTRY = /^[A-Za-z]{2}$/;

function validateSegment(s: Segment): void {
  if (!s || typeof s !== 'object') throw new RangeError('segment must be an object');
  if (typeof s.brand !== 'string' || s.brand.length === 0 || s.brand.length > 32) throw new RangeError('segment.brand must be a short non-empty string');
  if (typeof s.currency !== 'string' || !CURRENCY.test(s.currency)) throw new RangeError('segment.currency must be an ISO 4217 code');
  if (s.issuerCountry != null && (typeof s.issuerCountry !== 'string' || !COUNTRY.test(s.issuerCountry))) throw new RangeError('segment.issuerCountry must be an ISO 3166 alpha-2 code');
  if (s.crossBorder != null && typeof s.crossBorder !== 'boolean') throw new RangeError('segment.crossBorder must be a boolean');
  if (!Number.isSafeInteger(s.amount) || s.amount < 0) throw new RangeError('segment.amount must be a non-negative integer (minor units)');
  const ob = s.objective;
  if (ob != null && !(ob.kind === 'success' || (ob.kind === 'value' && Number.isFinite(ob.marginBps) && ob.marginBps > 0))) {
    throw new RangeError("segment.objective must be {kind:'success'} or {kind:'value', marginBps > 0}");
  }
}

function validateOutcome(o: RoutingOutcome): void {
  validateSegment(o);
  if (typeof o.gateway !== 'string' || o.gateway.length === 0 || o.gateway.length > 64) throw new RangeError('outcome.gateway must be a short non-empty string');
  if (o.status !== 'success' && o.status !== 'failure') throw new RangeError("outcome.status must be 'success' or 'failure'");
  if (o.type != null && !FAILURE_TYPES.includes(o.type)) throw new RangeError('outcome.type must be hard, soft, technical or fraud');
  if (!Number.isFinite(o.at) || o.at < 0) throw new RangeError('outcome.at must be unix seconds');
}
