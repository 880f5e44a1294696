// Arm A, the shop without Precheck. A value claim is made against the shop's single best gateway
// (the house rule), not against a random one: a shop that knows its gateways sends everything to
// the one that gets the most orders paid. "Best" is computed from the scenario's own gateway
// table: for a legitimate card that can pay, the probability that one attempt at gateway g is
// approved, averaged over the scenario's card mix (brand × issuer country → domestic/cross-border)
// and over the run's hours (drift and outage windows included: the best gateway in hindsight, the
// strongest single-gateway baseline). The card's hidden state (low balance, international
// disabled, ...) does not depend on the gateway, so the gateway with the highest acceptance for
// payable cards is also the one with the highest order-paid probability. Ties (within 1e-9) go to
// the lower fee per attempt at the median amount.
import { attemptFee, inOutage, successRate } from './gateway.ts';
import type { GatewaySpec, Scenario } from './scenario.ts';

export type BaselineChoice = { kind: 'best' } | { kind: 'random' } | { kind: 'gateway'; name: string };

export interface GatewayExpectation {
  name: string;
  /** Expected approval probability of one attempt by a payable card (card mix, hours averaged). */
  acceptance: number;
  /** Fee of one attempt at the median order amount (reporting minor units). */
  feeAtMedian: number;
}

/** Points over the run at which drift and outages are sampled (midpoints of equal slices). */
const TIME_SAMPLES = 480;

function normalise(w: Record<string, number>): Array<[string, number]> {
  const total = Object.values(w).reduce((s, x) => s + x, 0);
  return Object.entries(w).map(([k, x]) => [k, total > 0 ? x / total : 0]);
}

/** Expected approval probability of one attempt at `g` for a payable card of the scenario's mix. */
export function expectedAcceptance(s: Scenario, g: GatewaySpec): number {
  const brands = normalise(s.cards.brands);
  const countries = normalise(s.cards.issuerCountries);
  let sum = 0;
  for (let i = 0; i < TIME_SAMPLES; i++) {
    const hour = ((i + 0.5) / TIME_SAMPLES) * s.durationHours;
    const up = (1 - inOutage(g, hour)) * (1 - g.technicalFailureRate);
    let acc = 0;
    for (const [brand, wb] of brands) {
      for (const [country, wc] of countries) acc += wb * wc * successRate(g, brand, country !== s.merchant.country, hour);
    }
    sum += up * acc;
  }
  return sum / TIME_SAMPLES;
}

/** Every gateway's expectation, best first (the order arm A's choice uses). */
export function gatewayTable(s: Scenario): GatewayExpectation[] {
  const rows = s.gateways.map((g) => ({ name: g.name, acceptance: expectedAcceptance(s, g), feeAtMedian: attemptFee(g, Math.round(s.amounts.median)) }));
  return rows.sort((a, b) => (Math.abs(a.acceptance - b.acceptance) > 1e-9 ? b.acceptance - a.acceptance : a.feeAtMedian - b.feeAtMedian || a.name.localeCompare(b.name)));
}

/** The shop's single best gateway for this scenario. */
export function bestGateway(s: Scenario): string {
  return gatewayTable(s)[0].name;
}

/** The gateway arm A sends every attempt to, or null for a uniformly random one per attempt. */
export function baselineGateway(s: Scenario, choice: BaselineChoice = { kind: 'best' }): string | null {
  if (choice.kind === 'random') return null;
  if (choice.kind === 'best') return bestGateway(s);
  if (!s.gateways.some((g) => g.name === choice.name)) throw new RangeError(`arm A gateway "${choice.name}" is not in the scenario (${s.gateways.map((g) => g.name).join(', ')})`);
  return choice.name;
}

/** "best" | "random" | a gateway name → a choice (for the CLI). */
export function parseBaseline(v: string): BaselineChoice {
  if (v === 'best') return { kind: 'best' };
  if (v === 'random') return { kind: 'random' };
  return { kind: 'gateway', name: v };
}

export function baselineLabel(s: Scenario, choice: BaselineChoice): string {
  const g = baselineGateway(s, choice);
  if (g === null) return 'no precheck, uniformly random gateway per attempt';
  return `no precheck, every attempt to ${g}${choice.kind === 'best' ? " (the shop's single best gateway for this scenario)" : ''}`;
}
