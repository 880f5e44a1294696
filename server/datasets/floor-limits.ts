// Floor limits for unknown cards (dataset format 3; rules/decide.ts rule floor_limit), learned
// from the outcomes this service ingests. As an acquirer sets a terminal's floor limit per
// segment, the service publishes, per route segment (brand × currency × domestic/cross-border,
// rules/segment.ts), the amount up to which a device may approve a card it knows nothing about —
// and zero (the segment left out) unless the segment's recent outcomes earn it:
//   - enough evidence: at least `minNewCards` first attempts of new cards in the window;
//   - new cards pay: their first-attempt success rate (gateway failures excluded) >= `minNewCardSuccess`;
//   - little fraud: fraud evidence (rules/response-codes.ts classifyOutcome: `fraudEvidence`, i.e.
//     fraud-typed outcomes and lost/stolen/pick-up codes, the outcomes that restrict a card for
//     fraud) <= `maxFraudShare` of the segment's outcomes;
//   - no burst anywhere: fraud evidence in the last `burstWindowSeconds` (all segments) below
//     max(`burstMinCount`, `burstFactor` × its baseline from the window). A burst zeroes every
//     floor for `holdSeconds` after the last burst outcome, in the next dataset (the publisher
//     publishes within publish.maxDelay, 10 s by default).
// The floor itself (two significant digits): the lower of `floorUsd` (the new-card trust limit of the 'low' level,
// server/trust/policy.ts: what the network approves without 3-D Secure for a customer it barely
// trusts) and the segment's `amountQuantile` of new-card first-attempt amounts, so a device never
// approves more than the network would for a stranger nor far above the segment's usual order.
// The device-wide budget: `budgetFactor` × the new-card rate of the floored segments per
// `budgetWindowSeconds` (at least `budgetMin`), so a burst of fresh cards runs it out and
// escalates to the network's velocity checks before the next dataset arrives.
//
// State is in memory and bounded (hourly buckets per segment, a capped memory of cards and orders
// seen). After a restart every floor is zero until the window has the evidence again; cards seen
// before the restart count as new until seen again (a slight optimism about new cards' success
// that `minNewCardSuccess` is set with room for). With several service instances each learns
// from the outcomes it ingests; the publishing instance's floors are the ones published.
import type { FloorLimit, FloorLimits, RouteRegion } from '../../protocol/dataset/types.ts';
import { classifyOutcome } from '../../rules/response-codes.ts';
import { minorFromRoughUsd, regionOf } from '../../rules/segment.ts';
import { DEFAULT_TRUST_LIMITS_USD } from '../trust/policy.ts';

export interface FloorPolicy {
  windowSeconds: number;
  minNewCards: number;
  minNewCardSuccess: number;
  maxFraudShare: number;
  burstWindowSeconds: number;
  burstMinCount: number;
  burstFactor: number;
  holdSeconds: number;
  floorUsd: number;
  amountQuantile: number;
  budgetWindowSeconds: number;
  budgetFactor: number;
  budgetMin: number;
}

/** Defaults (docs/architecture.md "Floor limits" explains them with the simulator's numbers). */
export const DEFAULT_FLOOR_POLICY: Readonly<FloorPolicy> = {
  windowSeconds: 3 * 86_400,
  minNewCards: 30,
  minNewCardSuccess: 0.7,
  maxFraudShare: 0.05,
  burstWindowSeconds: 1800,
  burstMinCount: 4,
  burstFactor: 4,
  holdSeconds: 6 * 3600,
  floorUsd: DEFAULT_TRUST_LIMITS_USD.low,
  amountQuantile: 0.75,
  budgetWindowSeconds: 3600,
  budgetFactor: 2,
  budgetMin: 10,
};

/** What the learner needs of one ingested outcome (never card data: the token only as a key). */
export interface FloorOutcome {
  merchant: string;
  orderId: string;
  /** the device's card token; null when no device answered (then the card's newness is unknown) */
  token: Uint8Array | null;
  brand: string | null;
  currency: string;
  crossBorder: boolean | null;
  amount: number;
  status: string;
  code?: string | null;
  type?: string | null;
  advice?: string | null;
  /** unix seconds */
  at: number;
}

const HOUR = 3600;
/** New-card amounts kept per segment and hour for the quantile (the first ones of the hour). */
const AMOUNTS_PER_BUCKET = 64;
/** Cards and orders remembered at most (oldest forgotten first). */
export const MAX_CARDS = 500_000;
export const MAX_ORDERS = 200_000;
const ORDER_MEMORY_SECONDS = 6 * 3600;

interface Bucket {
  hour: number;
  outcomes: number;
  fraud: number;
  newFirst: number;
  newFirstOk: number;
  amounts: number[];
}

export class FloorLearner {
  private readonly p: FloorPolicy;
  /** segment key (brand \0 currency \0 region) → hourly buckets, oldest first */
  private readonly segments = new Map<string, Bucket[]>();
  private readonly cards = new Map<string, number>();
  private readonly orders = new Map<string, number>();
  /** times of fraud-evidence outcomes (any segment), oldest first, within burstWindowSeconds */
  private recentFraud: number[] = [];
  /** hourly fraud-evidence counts of every segment (and outcomes without one) */
  private fraudHours = new Map<number, number>();
  private firstAt: number | null = null;
  private burstAt: number | null = null;

  constructor(policy: Partial<FloorPolicy> = {}) {
    this.p = { ...DEFAULT_FLOOR_POLICY, ...policy };
  }

  record(o: FloorOutcome): void {
    const c = classifyOutcome(o);
    if (this.firstAt === null || o.at < this.firstAt) this.firstAt = o.at;
    const hour = Math.floor(o.at / HOUR);
    if (c.fraudEvidence) {
      this.fraudHours.set(hour, (this.fraudHours.get(hour) ?? 0) + 1);
      this.recentFraud.push(o.at);
      this.checkBurst(o.at);
    }
    // The card is new if no outcome of it was seen; the attempt is the first if its order had none.
    const orderKey = `${o.merchant}\u0000${o.orderId}`;
    const firstOfOrder = !this.orders.has(orderKey);
    remember(this.orders, orderKey, o.at, MAX_ORDERS);
    let newCard = false;
    if (o.token) {
      const k = Buffer.from(o.token).toString('latin1');
      newCard = !this.cards.has(k);
      remember(this.cards, k, o.at, MAX_CARDS);
    }
    if (!o.brand || o.crossBorder === null) return;
    const b = this.bucket(segKey(o.brand, o.currency, regionOf(o.crossBorder)), hour);
    if (!b) return;
    b.outcomes++;
    if (c.fraudEvidence) b.fraud++;
    // A gateway's own failure says nothing about the card: not a new card's answer.
    if (newCard && firstOfOrder && c.effect !== 'gateway') {
      b.newFirst++;
      if (o.status === 'success') b.newFirstOk++;
      if (b.amounts.length < AMOUNTS_PER_BUCKET) b.amounts.push(o.amount);
    }
  }

  /** Whether a fraud burst holds every floor at zero at `now`. */
  burstHeld(now: number): boolean {
    this.checkBurst(now);
    return this.burstAt !== null && now - this.burstAt < this.p.holdSeconds;
  }

  /** The floor-limit section for a dataset built at `now` (undefined: no floor anywhere). */
  limits(now: number): FloorLimits | undefined {
    this.prune(now);
    if (this.burstHeld(now)) return undefined;
    const limits: FloorLimit[] = [];
    let newFirst = 0;
    for (const [key, buckets] of this.segments) {
      const s = sum(buckets);
      if (s.newFirst < this.p.minNewCards) continue;
      if (s.newFirstOk / s.newFirst < this.p.minNewCardSuccess) continue;
      if (s.outcomes === 0 || s.fraud / s.outcomes > this.p.maxFraudShare) continue;
      const [brand, currency, region] = key.split('\u0000') as [string, string, RouteRegion];
      const cap = minorFromRoughUsd(this.p.floorUsd, currency);
      const limit = roundDown2(Math.min(cap, quantile(buckets.flatMap((b) => b.amounts), this.p.amountQuantile)));
      if (!(limit >= 1)) continue;
      limits.push({ brand, currency, region, limit: Math.min(limit, 0xffffffff) });
      newFirst += s.newFirst;
    }
    if (limits.length === 0) return undefined;
    const span = Math.max(HOUR, Math.min(this.p.windowSeconds, now - (this.firstAt ?? now)));
    const perWindow = (newFirst / span) * this.p.budgetWindowSeconds;
    // In steps of 5: a budget that moved with every outcome would make every dataset a new one.
    const maxApprovals = Math.min(1_000_000, Math.max(this.p.budgetMin, 5 * Math.ceil((this.p.budgetFactor * perWindow) / 5)));
    return { maxApprovals, windowSeconds: this.p.budgetWindowSeconds, limits };
  }

  private checkBurst(now: number): void {
    const from = now - this.p.burstWindowSeconds;
    let i = 0;
    while (i < this.recentFraud.length && this.recentFraud[i] <= from) i++;
    if (i > 0) this.recentFraud = this.recentFraud.slice(i);
    const recent = this.recentFraud.length;
    if (recent < this.p.burstMinCount) return;
    // Baseline: the window's fraud evidence before the burst window, per burst window.
    const windowFrom = Math.floor((now - this.p.windowSeconds) / HOUR);
    const burstHour = Math.floor(from / HOUR);
    let before = 0;
    for (const [h, n] of this.fraudHours) if (h >= windowFrom && h < burstHour) before += n;
    const span = Math.max(0, burstHour * HOUR - Math.max(now - this.p.windowSeconds, this.firstAt ?? now));
    const baseline = span > 0 ? (before / span) * this.p.burstWindowSeconds : 0;
    if (recent >= Math.max(this.p.burstMinCount, this.p.burstFactor * baseline)) this.burstAt = Math.max(this.burstAt ?? 0, now);
  }

  private bucket(key: string, hour: number): Bucket | null {
    let list = this.segments.get(key);
    if (!list) this.segments.set(key, (list = []));
    const last = list[list.length - 1];
    if (last && last.hour === hour) return last;
    // Outcomes arrive in time order but may be a little late: an older hour's bucket is found; one
    // older than the window is dropped.
    const found = list.find((b) => b.hour === hour);
    if (found) return found;
    if (last && hour < last.hour - this.p.windowSeconds / HOUR) return null;
    const b: Bucket = { hour, outcomes: 0, fraud: 0, newFirst: 0, newFirstOk: 0, amounts: [] };
    list.push(b);
    list.sort((x, y) => x.hour - y.hour);
    return b;
  }

  private prune(now: number): void {
    const from = Math.floor((now - this.p.windowSeconds) / HOUR);
    for (const [k, list] of this.segments) {
      const keep = list.filter((b) => b.hour >= from);
      if (keep.length === 0) this.segments.delete(k);
      else if (keep.length !== list.length) this.segments.set(k, keep);
    }
    for (const h of this.fraudHours.keys()) if (h < from) this.fraudHours.delete(h);
    for (const [k, at] of this.orders) {
      if (now - at <= ORDER_MEMORY_SECONDS) break;
      this.orders.delete(k);
    }
  }
}

function segKey(brand: string, currency: string, region: RouteRegion): string {
  return `${brand}\u0000${currency}\u0000${region}`;
}

/** Map as an LRU: re-inserted last on every touch, the oldest dropped beyond `max`. */
function remember(m: Map<string, number>, k: string, at: number, max: number): void {
  m.delete(k);
  m.set(k, at);
  while (m.size > max) m.delete(m.keys().next().value as string);
}

function sum(list: Bucket[]): { outcomes: number; fraud: number; newFirst: number; newFirstOk: number } {
  const s = { outcomes: 0, fraud: 0, newFirst: 0, newFirstOk: 0 };
  for (const b of list) {
    s.outcomes += b.outcomes;
    s.fraud += b.fraud;
    s.newFirst += b.newFirst;
    s.newFirstOk += b.newFirstOk;
  }
  return s;
}

/** Down to two significant digits (4 873 → 4 800): floors that do not change with every outcome. */
export function roundDown2(x: number): number {
  if (!(x >= 100)) return Math.floor(x);
  const step = 10 ** (Math.floor(Math.log10(x)) - 1);
  return Math.floor(x / step) * step;
}

/** The q-quantile (nearest rank, rounded down to an integer). */
function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  return Math.floor(s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]);
}
