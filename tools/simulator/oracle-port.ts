// A reference for what routing alone could still add: a PrecheckPort decorator that keeps every
// Precheck answer (decision, reason, prompt, stage) and the outcome reports, and replaces only the
// gateway of an answer that names one with an oracle's choice. The oracle knows what nothing real
// knows, the market's own model: each gateway's acceptance for the card's segment at that hour
// (drift, outage windows and everyday technical failures included) and how a card's answer at a
// gateway repeats there (the engine's declinePersistence d: a card approved at a gateway is
// approved there again with d² + (1 − d²) × p, one declined there with `05` with (1 − d²) × p,
// where p is the gateway's acceptance for a new card). It sends the card where its chance of
// approval is highest: the one-step best choice in that market. Precheck still learns from the
// oracle's attempts. bench/routing-oracle.ts plays a scenario through it; the gap between that run
// and the normal one is the acceptance Precheck's routing leaves to its estimates and to chance.
// It is a reference, not a policy.
import { inOutage, successRate } from './gateway.ts';
import type { PrecheckPort, ReportedOutcome, VerifyDecision, VerifyRequest } from './engine.ts';
import type { GatewaySpec, Scenario } from './scenario.ts';

export class OracleRoutingPort implements PrecheckPort {
  /** card id → gateway → the card's latest acceptance answer there. */
  private readonly cards = new Map<string, Map<string, 'approved' | 'declined'>>();
  readonly counts = { kept: 0, replaced: 0 };

  /** `startAt`: Unix seconds of the run's simulated hour 0 (as the arm's requests count time). */
  constructor(
    private readonly inner: PrecheckPort,
    private readonly scenario: Scenario,
    private readonly startAt: number,
  ) {}

  /** The chance that this card is approved at gateway `g` at simulated hour `hour`. */
  chance(cardId: string, g: GatewaySpec, brand: string, crossBorder: boolean, hour: number): number {
    const p = successRate(g, brand, crossBorder, hour);
    const both = this.scenario.declinePersistence ** 2; // both answers drew the card's standing one
    const seen = this.cards.get(cardId)?.get(g.name);
    const accept = seen === 'approved' ? both + (1 - both) * p : seen === 'declined' ? (1 - both) * p : p;
    return accept * (1 - inOutage(g, hour)) * (1 - g.technicalFailureRate);
  }

  /** The oracle's gateway for a card at simulated hour `hour` (ties: the scenario's order). */
  choose(cardId: string, brand: string, crossBorder: boolean, hour: number): string {
    let best = this.scenario.gateways[0];
    let top = -1;
    for (const g of this.scenario.gateways) {
      const c = this.chance(cardId, g, brand, crossBorder, hour);
      if (c > top) [best, top] = [g, c];
    }
    return best.name;
  }

  async verify(req: VerifyRequest): Promise<VerifyDecision> {
    const d = await this.inner.verify(req);
    if (d.gateway === null || d.decision === 'decline') return d;
    const gateway = this.choose(req.card.id, req.card.brand, req.card.issuerCountry !== this.scenario.merchant.country, (req.at - this.startAt) / 3600);
    if (gateway === d.gateway) this.counts.kept++;
    else this.counts.replaced++;
    return { ...d, gateway };
  }

  async report(o: ReportedOutcome): Promise<void> {
    // Only the acceptance draw repeats per card × gateway (gateway.ts decideAttempt): an approval or
    // a `05`. The card's state (51, 57, 41 ...) answers the same at every gateway, and timeouts
    // are the gateway's.
    const verdict = o.status === 'success' ? 'approved' : o.code === '05' ? 'declined' : null;
    if (verdict) {
      const m = this.cards.get(o.card.id) ?? new Map<string, 'approved' | 'declined'>();
      m.set(o.gateway, verdict);
      this.cards.set(o.card.id, m);
    }
    await this.inner.report(o);
  }

  advanceTo(unixSeconds: number): void {
    this.inner.advanceTo?.(unixSeconds);
  }
}
