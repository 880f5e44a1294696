// A reference for what routing alone could still add: a PrecheckPort decorator that keeps every
// Precheck answer (decision, reason, prompt, stage) and the outcome reports, and replaces only the
// gateway of an answer that names one with an oracle's choice. The oracle knows what nothing real
// knows, the scenario's own acceptance table: the gateway that approved this card before goes
// first (a card's answer at a gateway tends to repeat there: the engine's declinePersistence),
// else the gateway with the best acceptance for the card's segment at that hour (drift, outage
// windows and everyday technical failures included) among those that have not declined this card
// in the run. Precheck still learns from the oracle's attempts. bench/routing-oracle.ts plays a
// scenario through it; the gap between that run and the normal one is the acceptance Precheck's
// routing leaves to chance or to its own estimates. It is an upper reference, not a policy.
import { inOutage, successRate } from './gateway.ts';
import type { PrecheckPort, ReportedOutcome, VerifyDecision, VerifyRequest } from './engine.ts';
import type { GatewaySpec, Scenario } from './scenario.ts';

export class OracleRoutingPort implements PrecheckPort {
  /** card id → the gateway that approved it last, and the gateways that declined it since. */
  private readonly cards = new Map<string, { approved: string | null; declined: Set<string> }>();
  readonly counts = { kept: 0, replaced: 0 };

  /** `startAt`: Unix seconds of the run's simulated hour 0 (as the arm's requests count time). */
  constructor(
    private readonly inner: PrecheckPort,
    private readonly scenario: Scenario,
    private readonly startAt: number,
  ) {}

  /** The oracle's gateway for a card at simulated hour `hour`. */
  choose(cardId: string, brand: string, crossBorder: boolean, hour: number): string {
    const h = this.cards.get(cardId);
    if (h?.approved && !h.declined.has(h.approved)) return h.approved;
    const score = (g: GatewaySpec) => successRate(g, brand, crossBorder, hour) * (1 - inOutage(g, hour)) * (1 - g.technicalFailureRate);
    const ranked = [...this.scenario.gateways].sort((x, y) => score(y) - score(x));
    return (ranked.find((g) => !h?.declined.has(g.name)) ?? ranked[0]).name;
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
    const h = this.cards.get(o.card.id) ?? { approved: null, declined: new Set<string>() };
    if (o.status === 'success') {
      h.approved = o.gateway;
      h.declined.delete(o.gateway);
    } else if (o.type !== 'technical') h.declined.add(o.gateway);
    this.cards.set(o.card.id, h);
    await this.inner.report(o);
  }

  advanceTo(unixSeconds: number): void {
    this.inner.advanceTo?.(unixSeconds);
  }
}
