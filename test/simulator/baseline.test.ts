// Arm A is the shop's single best gateway, computed from the scenario's own gateway table.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baselineGateway, bestGateway, expectedAcceptance, gatewayTable, parseBaseline } from '../../tools/simulator/baseline.ts';
import { loadScenario, parseScenario, type Scenario } from '../../tools/simulator/scenario.ts';
import { buildMarket } from '../../tools/simulator/market.ts';
import { runArm } from '../../tools/simulator/engine.ts';

const calm = loadScenario(path.resolve(import.meta.dirname, '../../bench/scenarios/calm.json'));

/** calm with another card mix, gateways and duration. */
function variant(over: { issuerCountries?: Record<string, number>; brands?: Record<string, number>; gateways: unknown[]; durationHours?: number }): Scenario {
  const raw = JSON.parse(JSON.stringify({ ...calm, cards: { ...calm.cards }, gateways: over.gateways }));
  if (over.issuerCountries) raw.cards.issuerCountries = over.issuerCountries;
  if (over.brands) raw.cards.brands = over.brands;
  if (over.durationHours) raw.durationHours = over.durationHours;
  return parseScenario(raw, 'variant');
}

const gw = (name: string, successRates: Record<string, number>, extra: Record<string, unknown> = {}) => ({ name, feeFixed: 10, feeBps: 0, successRates, fraudScreen: 0, technicalFailureRate: 0, ...extra });

describe('arm A: the best single gateway', () => {
  it('computes the expected acceptance over the card mix by hand', () => {
    // 60% domestic (DE) at 0.95, 40% cross-border at 0.80 → 0.57 + 0.32 = 0.89; 1% timeouts → × 0.99
    const s = variant({ issuerCountries: { DE: 0.6, US: 0.4 }, gateways: [gw('x', { default: 0.95, 'cross-border': 0.8 }, { technicalFailureRate: 0.01 })] });
    expect(expectedAcceptance(s, s.gateways[0])).toBeCloseTo(0.89 * 0.99, 10);
  });

  it('picks the gateway that is best for this traffic, not the best on paper', () => {
    const gateways = [gw('domestic-star', { default: 0.97, 'cross-border': 0.8 }), gw('all-rounder', { default: 0.93, 'cross-border': 0.92 })];
    // mostly domestic: 0.9×0.97 + 0.1×0.80 = 0.953 > 0.9×0.93 + 0.1×0.92 = 0.929
    expect(bestGateway(variant({ issuerCountries: { DE: 0.9, US: 0.1 }, gateways }))).toBe('domestic-star');
    // half cross-border: 0.885 < 0.925
    expect(bestGateway(variant({ issuerCountries: { DE: 0.5, US: 0.5 }, gateways }))).toBe('all-rounder');
  });

  it('weighs brand-specific rates by the brand mix', () => {
    const gateways = [gw('amex-house', { default: 0.9, 'american-express': 0.99 }), gw('plain', { default: 0.92 })];
    expect(bestGateway(variant({ issuerCountries: { DE: 1 }, brands: { visa: 0.5, 'american-express': 0.5 }, gateways }))).toBe('amex-house');
    expect(bestGateway(variant({ issuerCountries: { DE: 1 }, brands: { visa: 0.95, 'american-express': 0.05 }, gateways }))).toBe('plain');
  });

  it('counts outages and drift over the run (the best gateway in hindsight)', () => {
    // a: 0.95 but down (100% timeouts) for a quarter of the run → 0.7125; b: 0.9 all along
    const gateways = [gw('a', { default: 0.95 }, { outages: [{ fromHour: 0, toHour: 12, failureRate: 1 }] }), gw('b', { default: 0.9 })];
    expect(bestGateway(variant({ durationHours: 48, issuerCountries: { DE: 1 }, gateways }))).toBe('b');
  });

  it('breaks a tie by the lower fee, and keeps random or a named gateway as options', () => {
    const s = variant({ issuerCountries: { DE: 1 }, gateways: [gw('dear', { default: 0.9 }, { feeFixed: 30 }), gw('cheap', { default: 0.9 }, { feeFixed: 5 })] });
    expect(gatewayTable(s).map((g) => g.name)).toEqual(['cheap', 'dear']);
    expect(baselineGateway(s)).toBe('cheap');
    expect(baselineGateway(s, parseBaseline('random'))).toBeNull();
    expect(baselineGateway(s, parseBaseline('dear'))).toBe('dear');
    expect(() => baselineGateway(s, parseBaseline('nope'))).toThrow(/"nope" is not in the scenario/);
  });

  it('on the calm scenario arm A sends every attempt to the best gateway (beta), a random arm spreads them', async () => {
    expect(bestGateway(calm)).toBe('beta');
    const market = buildMarket(calm, { orders: 60 });
    const best = await runArm(market, null, { defaultGateway: 'beta' });
    expect(new Set(best.flatMap((r) => r.attemptLog.map((a) => a.gateway)))).toEqual(new Set(['beta']));
    const random = await runArm(market, null, {});
    expect(new Set(random.flatMap((r) => r.attemptLog.map((a) => a.gateway))).size).toBeGreaterThan(1);
  });
});
