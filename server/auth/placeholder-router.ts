// Placeholder gateway recommendation until server/routing/ lands: the gateway with the best
// observed success rate for the card's brand + currency, ties broken by the fee for this amount
// (per-attempt fee + basis points). With no observations: the cheapest registered gateway.
import type { Route } from '../../protocol/dataset/types.ts';
import type { Gateway, GatewayStat, Storage } from '../storage/storage.ts';

export interface Segment {
  brand: string | null;
  currency: string;
  amount: number;
}

export interface RouteRecommendation {
  gateway: string;
  /** Observed success rate 0..1, or null without observations. */
  successRate: number | null;
}

export interface GatewayRecommender {
  recommend(segment: Segment, now: number): Promise<RouteRecommendation | null>;
  routesTable(): Promise<Route[]>;
}

export function feeFor(g: Gateway | undefined, amount: number): number {
  if (!g) return Number.POSITIVE_INFINITY;
  return g.feePerAttempt + Math.ceil((amount * g.feeBps) / 10_000);
}

/** Pure choice, so it is testable without storage. */
export function chooseGateway(stats: GatewayStat[], gateways: Gateway[], segment: Segment): RouteRecommendation | null {
  const byName = new Map(gateways.map((g) => [g.name, g]));
  const brand = segment.brand ?? 'unknown';
  const observed = stats.filter((s) => s.brand === brand && s.currency === segment.currency && s.attempts > 0);
  if (observed.length > 0) {
    const ranked = observed
      .map((s) => ({ gateway: s.gateway, successRate: s.successes / s.attempts, fee: feeFor(byName.get(s.gateway), segment.amount) }))
      .sort((a, b) => b.successRate - a.successRate || a.fee - b.fee || (a.gateway < b.gateway ? -1 : 1));
    return { gateway: ranked[0].gateway, successRate: ranked[0].successRate };
  }
  if (gateways.length === 0) return null;
  const cheapest = [...gateways].sort((a, b) => feeFor(a, segment.amount) - feeFor(b, segment.amount) || (a.name < b.name ? -1 : 1))[0];
  return { gateway: cheapest.name, successRate: null };
}

export class PlaceholderRouter implements GatewayRecommender {
  constructor(private readonly storage: Storage) {}

  async recommend(segment: Segment): Promise<RouteRecommendation | null> {
    const [stats, gateways] = await Promise.all([this.storage.gatewayStats(), this.storage.listGateways()]);
    return chooseGateway(stats, gateways, segment);
  }

  async routesTable(): Promise<Route[]> {
    const stats = await this.storage.gatewayStats();
    return stats
      .filter((s) => s.attempts > 0)
      .map((s) => ({ brand: s.brand, currency: s.currency, gateway: s.gateway, successRate: s.successes / s.attempts }));
  }
}
