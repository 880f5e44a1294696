// What the bridge knows about gateways right now, from the outcomes the shop reports through it:
// every one passes here before it is forwarded, so the bridge sees an outage seconds before a
// dataset can tell a device. Two things:
//
// - A small sliding window of recent outcomes per gateway. A gateway is "failing now" when, among
//   its outcomes of the last `windowMs` (default 15 min: until the next scheduled dataset can tell
//   the device; at most `windowSize` of them), at least `minFailures` are
//   gateway failures and they are at least `failShare` of the window — or its last `minFailures`
//   outcomes in a row were. A gateway failure is what the outcome classification says counts
//   against the gateway (technical: timeouts, gateway errors), never an issuer's decline, which
//   proves the gateway works. Failing gateways age out of the window with time: traffic that
//   comes back to the gateway is the probe.
// - Per card (token), the recent answers of each gateway, so the gateway that just declined this
//   very card is avoided by the next local verification, before any dataset has that decline
//   (the network path's rule: rules/routing.ts declinedGateways). Bounded (LRU).
//
// `route()` applies both to a device's offline pick and its alternatives. In memory only: after a
// restart the device's dataset (history, gateway health) carries what the service learned.
import { AVOID_DECLINED_SECONDS, chooseGateway, declinedGateways, type GatewayAnswer } from '../../rules/routing.ts';
import { outcomeEffect } from './outcome-effect.ts';
import { classifyOutcome } from '../../rules/response-codes.ts';
import type { HistoryStatus } from '../../protocol/dataset/types.ts';

/** How long the bridge's own news of a card's decline overrides a device's approval (`precheck up`'s sync interval). */
export const CARD_NEWS_SECONDS = 15 * 60;

export interface GatewayHealthOptions {
  /**
   * Default 15 min, `precheck up`'s sync interval. It was 60 s: a shop with an order every minute
   * or two never had 3 outcomes of one gateway in it, so the bridge never saw an outage and the
   * device kept sending orders into it until the next dataset (the simulator's drift-outage run).
   */
  windowMs?: number;
  windowSize?: number; // default 20 outcomes per gateway
  minFailures?: number; // default 3
  failShare?: number; // default 0.5
  maxCards?: number; // default 10 000 tokens remembered
  now?: () => number; // ms
}

export interface ObservedOutcome {
  gateway: string;
  status: HistoryStatus;
  code?: string;
  type?: string;
  /** unix seconds (when the shop saw it) */
  at?: number;
}

export interface RouteDecision {
  gateway: string | null;
  /** why the device's pick was replaced, if it was */
  overridden: null | 'failing' | 'declined';
}

interface Sample {
  atMs: number;
  gatewayFailure: boolean;
}

export class GatewayHealth {
  private readonly windowMs: number;
  private readonly windowSize: number;
  private readonly minFailures: number;
  private readonly failShare: number;
  private readonly maxCards: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, Sample[]>();
  private readonly cards = new Map<string, GatewayAnswer[]>();
  readonly counters = { observed: 0, overriddenFailing: 0, overriddenDeclined: 0 };

  constructor(o: GatewayHealthOptions = {}) {
    this.windowMs = o.windowMs ?? 15 * 60_000;
    this.windowSize = o.windowSize ?? 20;
    this.minFailures = o.minFailures ?? 3;
    this.failShare = o.failShare ?? 0.5;
    this.maxCards = o.maxCards ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  /** One outcome the shop reported (queued for the service); `token` when the bridge knows the card. */
  observe(o: ObservedOutcome, token: string | null): void {
    this.counters.observed++;
    const effect = outcomeEffect(o);
    const atMs = this.now();
    let w = this.windows.get(o.gateway);
    if (!w) this.windows.set(o.gateway, (w = []));
    w.push({ atMs, gatewayFailure: effect.gateway });
    if (w.length > this.windowSize) w.splice(0, w.length - this.windowSize);
    if (token) {
      const events = this.cards.get(token) ?? [];
      this.cards.delete(token); // re-insert: most recently used last
      events.push({ gateway: o.gateway, status: o.status, code: o.code ?? null, type: o.type ?? null, at: o.at ?? Math.floor(atMs / 1000) });
      this.cards.set(token, events.slice(-32));
      if (this.cards.size > this.maxCards) this.cards.delete(this.cards.keys().next().value as string);
    }
  }

  /** Gateways failing now (see the header), sorted. */
  failing(): string[] {
    const out: string[] = [];
    for (const g of this.windows.keys()) if (this.isFailing(g)) out.push(g);
    return out.sort();
  }

  isFailing(gateway: string): boolean {
    const w = this.windows.get(gateway);
    if (!w) return false;
    const from = this.now() - this.windowMs;
    const recent = w.filter((s) => s.atMs >= from);
    if (recent.length === 0) {
      this.windows.delete(gateway);
      return false;
    }
    const failures = recent.filter((s) => s.gatewayFailure).length;
    if (failures < this.minFailures) return false;
    if (failures / recent.length >= this.failShare) return true;
    return recent.slice(-this.minFailures).every((s) => s.gatewayFailure);
  }

  /**
   * The decline this card got here lately that the rules act on, when it is the card's latest
   * card-level answer seen here: a hard decline, or a soft one inside its review window
   * (rules/response-codes.ts), at most CARD_NEWS_SECONDS old. A device answers from its dataset,
   * which has an outcome only after the service published and the device synced it (the
   * simulator's lag: p50 18 s, p99 30 s — and a customer retries about 30 s after a decline), so
   * the pipeline asks the network instead of taking the device's approval of such a card.
   */
  recentDecline(token: string | null, nowS = Math.floor(this.now() / 1000)): { code: string | null; at: number } | null {
    if (!token) return null;
    const events = this.cards.get(token) ?? [];
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i];
      const c = classifyOutcome(e);
      if (c.effect === 'gateway') continue;
      if (e.status !== 'failure' || nowS - e.at > CARD_NEWS_SECONDS) return null;
      return c.hard || (c.soft !== null && nowS - e.at <= c.soft.windowSeconds) ? { code: e.code ?? null, at: e.at } : null;
    }
    return null;
  }

  /** Gateways that declined this card (latest issuer answer there a failure), from what passed here. */
  declinedFor(token: string | null, nowS = Math.floor(this.now() / 1000)): string[] {
    if (!token) return [];
    return declinedGateways(this.cards.get(token) ?? [], nowS - AVOID_DECLINED_SECONDS);
  }

  /**
   * The gateway to answer with, given a device's pick and its alternatives (best first): the first
   * that is not failing now and did not just decline this card; the device's pick when every one is
   * failing (nothing better is known).
   */
  route(pick: string | null, alternatives: readonly string[], token: string | null): RouteDecision {
    if (pick === null) return { gateway: null, overridden: null };
    const ranked = [pick, ...alternatives.filter((g) => g !== pick)];
    const failing = ranked.filter((g) => this.isFailing(g));
    const choice = chooseGateway(ranked, failing, this.declinedFor(token));
    if (choice.gateway === null || choice.gateway === pick) return { gateway: pick, overridden: null };
    const overridden = choice.skippedEliminated.includes(pick) ? 'failing' : 'declined';
    if (overridden === 'failing') this.counters.overriddenFailing++;
    else this.counters.overriddenDeclined++;
    return { gateway: choice.gateway, overridden };
  }
}
