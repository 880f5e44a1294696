// The server's face of GatewayRouter: gateways and fees come from the service's gateway table,
// stored outcomes are replayed at startup, and answers keep the shape the network API uses.
import { GatewayRouter, type Recommendation, type RouterOptions, type RoutingOutcome } from './router.ts';
import type { MerchantObjectives } from './objectives.ts';

export interface RegisteredGateway {
  name: string;
  feePerAttempt: number; // minor units
  feeBps: number;
}

export interface RecommendSegment {
  brand: string | null;
  issuerCountry?: string | null;
  crossBorder?: boolean | null;
  /** Gateways that declined this card recently: skipped while another gateway can take it. */
  avoid?: readonly string[];
  /** The gateway that approved this card last (kept while its rate is close to the best's). */
  prefer?: string | null;
  currency: string;
  amount: number;
}

export interface RouteRecommendationFull extends Recommendation {
  gateway: string;
}

export class RouterRecommender {
  readonly router: GatewayRouter;
  private registered: string[] = [];

  constructor(
    private readonly listGateways: () => Promise<RegisteredGateway[]>,
    opts: RouterOptions = {},
    /** Per-merchant objectives (success first unless the merchant chose value). */
    readonly objectives: MerchantObjectives | null = null,
  ) {
    this.router = new GatewayRouter(opts);
  }

  /** Re-reads gateways and fees (call at start and after admin changes). */
  async refreshGateways(): Promise<void> {
    const gws = await this.listGateways();
    this.registered = gws.map((g) => g.name);
    this.router.setGateways(gws.map((g) => ({ id: g.name, feeFixedMinor: g.feePerAttempt, feeBps: g.feeBps })));
  }

  /** Startup: rebuild window state from stored outcomes (those older than the window are skipped). */
  replay(outcomes: Iterable<RoutingOutcome>): void {
    this.router.recordMany(outcomes);
  }

  /** Feeds one ingested outcome; malformed ones are skipped (the API validated them already). */
  record(o: RoutingOutcome): boolean {
    try {
      this.router.record(o);
      return true;
    } catch (e) {
      if (e instanceof RangeError) return false;
      throw e;
    }
  }

  async recommend(seg: RecommendSegment, now?: number, merchant?: string): Promise<RouteRecommendationFull | null> {
    if (this.registered.length === 0) await this.refreshGateways();
    // From the objectives' cache when it is fresh (every authentication asks; no promise then).
    const objective = merchant !== undefined && this.objectives ? (this.objectives.cachedObjectiveFor(merchant) ?? (await this.objectives.objectiveFor(merchant))) : undefined;
    const r = this.router.recommend(
      {
        brand: seg.brand ?? 'unknown',
        issuerCountry: seg.issuerCountry && /^[A-Za-z]{2}$/.test(seg.issuerCountry) ? seg.issuerCountry : null,
        crossBorder: typeof seg.crossBorder === 'boolean' ? seg.crossBorder : null,
        avoid: seg.avoid,
        prefer: seg.prefer ?? null,
        currency: seg.currency,
        amount: seg.amount,
        objective,
        // Route only to registered gateways when there are any; else to whatever outcomes named.
        eligible: this.registered.length > 0 ? this.registered : undefined,
      },
      now,
    );
    return r.gateway === null ? null : (r as RouteRecommendationFull);
  }

  /**
   * The dataset's offline routes: the router's first choice per brand × currency only (under its
   * default objective, success first). The ranking uses sample sizes and fees a device does not
   * hold, so publishing just the winner keeps the device's offline pick equal to ours.
   */
  async routesTable(): Promise<Array<{ brand: string; currency: string; gateway: string; successRate: number }>> {
    if (this.registered.length === 0) await this.refreshGateways();
    const eligible = new Set(this.registered);
    const seen = new Set<string>();
    const out: Array<{ brand: string; currency: string; gateway: string; successRate: number }> = [];
    for (const { brand, currency, gateway, successRate } of this.router.routesTable()) {
      // Same rule as recommend(): only registered gateways, when there are any.
      if (eligible.size > 0 && !eligible.has(gateway)) continue;
      const key = `${brand}\u0000${currency}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ brand, currency, gateway, successRate });
    }
    return out;
  }
}
