import { describe, expect, it } from 'vitest';
import { GatewayRouter, type RouterOptions, type RoutingOutcome } from '../../../server/routing/router.ts';
import { amountBand, segmentKeys } from '../../../server/routing/segment.ts';
import { mulberry32 } from '../../../server/routing/rng.ts';

const T0 = 1_700_000_000; // a bucket boundary for 60 s buckets (1_700_000_000 % 60 === 20, fine either way)

function setup(opts: RouterOptions = {}) {
  const clock = { t: T0 };
  const router = new GatewayRouter({ explorationShare: 0, clock: () => clock.t * 1000, rng: mulberry32(42), ...opts });
  return { clock, router };
}

/** Records `n` outcomes for a gateway with a success share of `rate` (deterministic pattern). */
function feed(router: GatewayRouter, gateway: string, n: number, rate: number, at: number, seg: Partial<RoutingOutcome> = {}): void {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += rate;
    const success = acc >= 1 - 1e-9;
    if (success) acc -= 1;
    router.record({ gateway, brand: 'visa', issuerCountry: 'DE', currency: 'EUR', amount: 5000, at, status: success ? 'success' : 'failure', type: success ? undefined : 'soft', ...seg });
  }
}

const VISA_EUR = { brand: 'visa', issuerCountry: 'DE', currency: 'EUR', amount: 5000 };
const MC_USD = { brand: 'mastercard', issuerCountry: 'US', currency: 'USD', amount: 5000 };

describe('segments', () => {
  it('bands amounts in rough dollar-sized units across currencies', () => {
    expect(amountBand(1500, 'EUR')).toBe('lt20');
    expect(amountBand(5000, 'USD')).toBe('20-100');
    expect(amountBand(5000, 'JPY')).toBe('20-100'); // ¥5000 ≈ $35: JPY has no minor unit
    expect(amountBand(20_000, 'EUR')).toBe('100-500');
    expect(amountBand(200_000, 'KWD')).toBe('gt500'); // 200.000 KWD ≈ $650
  });
  it('has one key per fallback level, finest first', () => {
    const keys = segmentKeys({ brand: 'Visa', issuerCountry: 'de', currency: 'eur', amount: 5000 });
    expect(keys).toEqual(['b=visa|c=DE|r=?|$=EUR|a=20-100', 'b=visa|r=?|$=EUR|a=20-100', 'b=visa|r=?|$=EUR', 'r=?|$=EUR', '', 'b=visa|$=EUR', '$=EUR']); // no region level without a region
    const xb = segmentKeys({ brand: 'visa', issuerCountry: 'DE', crossBorder: true, currency: 'EUR', amount: 5000 });
    expect(xb.slice(0, 3)).toEqual(['b=visa|c=DE|r=xb|$=EUR|a=20-100', 'b=visa|r=xb|$=EUR|a=20-100', 'b=visa|r=xb|$=EUR']);
    expect(segmentKeys({ brand: 'visa', crossBorder: false, currency: 'EUR', amount: 5000 })[2]).toBe('b=visa|r=dom|$=EUR');
    expect(xb.slice(3, 5)).toEqual(['r=xb|$=EUR', 'r=xb']);
  });
});

describe('GatewayRouter', () => {
  // A cross-border order whose brand has too few outcomes abroad at one gateway: ranked by the
  // gateways' cross-border rates over all brands (region × currency), not by brand × currency,
  // where the domestic orders set the rates and the gateway best at home won abroad too.
  const XB = (brand: string) => ({ brand, issuerCountry: 'US', crossBorder: true, currency: 'EUR', amount: 5000 });
  const DOM = { brand: 'visa', issuerCountry: 'DE', crossBorder: false, currency: 'EUR', amount: 5000 };
  function domesticStrongA(opts: RouterOptions = {}) {
    const s = setup(opts);
    feed(s.router, 'A', 200, 0.95, T0, DOM);
    feed(s.router, 'B', 200, 0.9, T0, DOM);
    feed(s.router, 'A', 100, 0.8, T0, XB('mastercard'));
    feed(s.router, 'B', 100, 0.95, T0, XB('mastercard'));
    feed(s.router, 'B', 30, 0.95, T0, XB('visa')); // success-first: the visa cards abroad went to B
    feed(s.router, 'A', 3, 1, T0, XB('visa'));
    return s;
  }
  it('ranks a cross-border order with a sparse brand segment by the cross-border rates of all brands', () => {
    const { router } = domesticStrongA();
    const r = router.recommend(XB('visa'));
    expect(r).toMatchObject({ gateway: 'B', segmentLevel: 'region+currency' });
    expect(router.ranking(XB('visa')).map((x) => x.gateway)).toEqual(['B', 'A']); // the device's offline route too
    expect(router.recommend(DOM).gateway).toBe('A'); // at home A stays first
  });
  it('warms up the least-sampled gateway, even one whose first answers were unlucky', () => {
    const { router } = setup({ explorationShare: 0.05, rng: () => 0.99 }); // the exploration coin never falls
    feed(router, 'A', 40, 0.9, T0, XB('visa'));
    feed(router, 'B', 10, 0.9, T0, XB('visa'));
    feed(router, 'C', 2, 0, T0, XB('visa')); // 0 of 2: chance at these counts
    const r = router.recommend(XB('visa'));
    expect(router.stats().warmups).toBe(1);
    expect(r.gateway).toBe('C');
  });
  it('a currency the shop seldom takes borrows the region measured in its other currencies: no warm-up of its own, ranked by region', () => {
    // Each presentment currency was warmed up and ranked on its own: in the simulator's markets
    // (EUR, USD 15 %, GBP 10 %) the USD and GBP cross-border orders spent their first half-day
    // round-robin over all three gateways, a third of them at one 13 points weaker abroad.
    const gateways = [{ id: 'A', feeFixedMinor: 5 }, { id: 'B', feeFixedMinor: 20 }];
    const { router } = domesticStrongA({ explorationShare: 0.05, rng: () => 0.99, gateways }); // the exploration coin never falls
    const usd = { ...XB('visa'), currency: 'USD' };
    const r = router.recommend(usd);
    expect(r).toMatchObject({ gateway: 'B', explored: false, segmentLevel: 'region' });
    expect(router.stats().warmups).toBe(0);
    expect(router.ranking(usd).map((x) => x.gateway)).toEqual(['B', 'A']);
    // at home the region's rates put A first, in USD too
    expect(router.recommend({ ...DOM, currency: 'USD' })).toMatchObject({ gateway: 'A', segmentLevel: 'region' });
    // an order of unknown region has no cross-currency level: nothing in USD, the cheapest
    expect(router.recommend({ brand: 'visa', currency: 'USD', amount: 5000 })).toMatchObject({ gateway: 'A', segmentLevel: 'none' });
  });
  it('warms gateways up per region, not per brand: a measured region needs no warm-up for a new brand', () => {
    const { router } = domesticStrongA({ explorationShare: 0.05, rng: () => 0.99 }); // the exploration coin never falls
    const r = router.recommend(XB('american-express'));
    expect(r).toMatchObject({ gateway: 'B', explored: false, segmentLevel: 'region+currency' });
    expect(router.stats().warmups).toBe(0);
  });
  it('picks the better gateway per segment', () => {
    const { router } = setup();
    feed(router, 'A', 50, 0.9, T0, VISA_EUR);
    feed(router, 'B', 50, 0.6, T0, VISA_EUR);
    feed(router, 'A', 50, 0.5, T0, MC_USD);
    feed(router, 'B', 50, 0.86, T0, MC_USD);
    const r1 = router.recommend(VISA_EUR);
    expect(r1).toMatchObject({ gateway: 'A', explored: false, eliminated: [], segmentLevel: 'brand+country+currency+band' });
    expect(r1.successRate).toBeCloseTo(0.9, 2);
    const r2 = router.recommend(MC_USD);
    expect(r2.gateway).toBe('B');
    expect(r2.successRate).toBeCloseTo(0.86, 2);
  });

  it("a stolen card refused (59 fraud screen, 41/43 lost or stolen) is not counted against the gateway's success rate", () => {
    const { router } = setup();
    feed(router, 'A', 50, 0.94, T0, VISA_EUR);
    feed(router, 'B', 50, 0.9, T0, VISA_EUR);
    // A fraud wave: A's screen refuses stolen cards that B would have let through to the issuer.
    for (let i = 0; i < 30; i++) router.record({ gateway: 'A', ...VISA_EUR, at: T0, status: 'failure', code: '59', type: 'fraud' });
    for (let i = 0; i < 10; i++) router.record({ gateway: 'A', ...VISA_EUR, at: T0, status: 'failure', code: i % 2 ? '41' : '43', type: 'hard' });
    const r = router.recommend(VISA_EUR);
    expect(r.gateway).toBe('A');
    expect(r.successRate).toBeCloseTo(0.94, 2);
    // A generic decline still counts: it is the gateway's acceptance.
    feed(router, 'A', 40, 0, T0, VISA_EUR);
    expect(router.recommend(VISA_EUR).gateway).toBe('B');
  });

  it('falls back to a coarser segment when the fine one has too few outcomes', () => {
    const { router } = setup({ minSamples: 20 });
    // Lots of German-issued data: A is better there and at brand+currency+band level.
    feed(router, 'A', 100, 0.9, T0, VISA_EUR);
    feed(router, 'B', 100, 0.7, T0, VISA_EUR);
    // A handful of French-issued outcomes say the opposite: too few to believe.
    const FR = { ...VISA_EUR, issuerCountry: 'FR' };
    feed(router, 'A', 5, 0.2, T0, FR);
    feed(router, 'B', 5, 1, T0, FR);
    const r = router.recommend(FR);
    expect(r.segmentLevel).toBe('brand+region+currency+band');
    expect(r.gateway).toBe('A');
    // Once France has enough outcomes of its own, its own segment decides.
    feed(router, 'A', 20, 0.2, T0, FR);
    feed(router, 'B', 20, 1, T0, FR);
    const r2 = router.recommend(FR);
    expect(r2.segmentLevel).toBe('brand+country+currency+band');
    expect(r2.gateway).toBe('B');
  });

  it('follows drift: A degrades and B improves → the recommendation moves within the window', () => {
    const bucketSeconds = 60;
    const bucketCount = 10;
    const { clock, router } = setup({ bucketSeconds, bucketCount });
    for (let b = 0; b < bucketCount; b++) {
      clock.t = T0 + b * bucketSeconds;
      feed(router, 'A', 20, 0.9, clock.t, VISA_EUR);
      feed(router, 'B', 20, 0.7, clock.t, VISA_EUR);
    }
    expect(router.recommend(VISA_EUR).gateway).toBe('A');
    let movedAfter = -1;
    for (let b = 0; b < bucketCount; b++) {
      clock.t = T0 + (bucketCount + b) * bucketSeconds;
      feed(router, 'A', 20, 0.5, clock.t, VISA_EUR);
      feed(router, 'B', 20, 0.95, clock.t, VISA_EUR);
      if (router.recommend(VISA_EUR).gateway === 'B') {
        movedAfter = b + 1;
        break;
      }
    }
    expect(movedAfter).toBeGreaterThan(0);
    expect(movedAfter).toBeLessThan(bucketCount); // before the old data has fully left the window
  });

  it('eliminates a gateway after consecutive technical failures and probes it after the cool-down', () => {
    // the consecutive rule alone (the 3-of-5 window would open the breaker at the third)
    const { clock, router } = setup({ consecutiveFailures: 5, coolDownSeconds: 300, technicalWindowAnswers: 0 });
    feed(router, 'A', 200, 0.9, T0, VISA_EUR);
    feed(router, 'B', 200, 0.8, T0, VISA_EUR);
    expect(router.recommend(VISA_EUR).gateway).toBe('A');
    const tech = { ...VISA_EUR, gateway: 'A', status: 'failure' as const, type: 'technical' as const, code: 'timeout' };
    for (let i = 0; i < 4; i++) router.record({ ...tech, at: T0 + 10 });
    expect(router.recommend(VISA_EUR).gateway).toBe('A'); // 4 in a row: not yet
    clock.t = T0 + 10;
    router.record({ ...tech, at: T0 + 10 });
    const out = router.recommend(VISA_EUR);
    expect(out).toMatchObject({ gateway: 'B', eliminated: ['A'], explored: false });
    clock.t = T0 + 10 + 299;
    expect(router.recommend(VISA_EUR).gateway).toBe('B');
    // Cool-down over: exactly one probe goes to A.
    clock.t = T0 + 10 + 300;
    expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'A', explored: true, eliminated: [] });
    expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'B', eliminated: ['A'] }); // probe in flight
    // The probe times out again: eliminated again at once, not after 5 more, and for twice as long
    // (a probe is a customer's attempt).
    router.record({ ...tech, at: clock.t });
    expect(router.recommend(VISA_EUR).eliminated).toEqual(['A']);
    clock.t += 599;
    expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'B', eliminated: ['A'] });
    // Next cool-down: the probe succeeds and A is back as the best gateway.
    clock.t += 1;
    expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'A', explored: true });
    router.record({ ...VISA_EUR, gateway: 'A', status: 'success', at: clock.t });
    expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'A', explored: false, eliminated: [] });
    expect(router.stats().probes).toBe(2);
  });

  it('doubles the cool-down after each failed probe up to three cool-downs, and starts over after a confirmed recovery', () => {
    const { clock, router } = setup({ consecutiveFailures: 5, coolDownSeconds: 300 });
    feed(router, 'A', 200, 0.9, T0, VISA_EUR);
    feed(router, 'B', 200, 0.8, T0, VISA_EUR);
    const tech = { ...VISA_EUR, gateway: 'A', status: 'failure' as const, type: 'technical' as const, code: 'timeout' };
    clock.t = T0 + 10;
    for (let i = 0; i < 5; i++) router.record({ ...tech, at: clock.t });
    const probeAfter = (wait: number) => {
      clock.t += wait - 1;
      expect(router.recommend(VISA_EUR).gateway).toBe('B');
      clock.t += 1;
      expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'A', explored: true });
    };
    probeAfter(300);
    router.record({ ...tech, at: clock.t });
    probeAfter(600);
    router.record({ ...tech, at: clock.t });
    probeAfter(900); // capped: 3 × 300
    router.record({ ...tech, at: clock.t });
    probeAfter(900);
    // recovered: three processed answers in a row
    for (let i = 0; i < 3; i++) router.record({ ...VISA_EUR, gateway: 'A', status: 'success', at: clock.t });
    // a new outage starts over at one cool-down
    for (let i = 0; i < 5; i++) router.record({ ...tech, at: clock.t });
    probeAfter(300);
  });

  it('interleaved non-technical outcomes reset the consecutive count', () => {
    const { router } = setup({ consecutiveFailures: 3, technicalWindowAnswers: 0 });
    feed(router, 'A', 50, 0.9, T0, VISA_EUR);
    feed(router, 'B', 50, 0.8, T0, VISA_EUR);
    const tech = { ...VISA_EUR, gateway: 'A', status: 'failure' as const, type: 'technical' as const, at: T0 };
    router.record(tech);
    router.record(tech);
    router.record({ ...VISA_EUR, gateway: 'A', status: 'failure', type: 'soft', code: '51', at: T0 });
    router.record(tech);
    router.record(tech);
    expect(router.recommend(VISA_EUR).eliminated).toEqual([]);
    router.record(tech);
    expect(router.recommend(VISA_EUR).eliminated).toEqual(['A']);
  });

  it('eliminates a gateway in a partial outage: 3 technical failures among its last 5 answers, approvals between them', () => {
    // Half the attempts time out: an approval now and then restarts the consecutive count, so five
    // in a row may take an hour of failed attempts (the simulator's drift-outage, beta at 50 %).
    const { router } = setup({ consecutiveFailures: 5 });
    feed(router, 'A', 50, 0.9, T0, VISA_EUR);
    feed(router, 'B', 50, 0.8, T0, VISA_EUR);
    const tech = { ...VISA_EUR, gateway: 'A', status: 'failure' as const, type: 'technical' as const, code: 'TIMEOUT', at: T0 };
    const ok = { ...VISA_EUR, gateway: 'A', status: 'success' as const, at: T0 };
    router.record(tech);
    router.record(ok);
    router.record(tech);
    expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'A', eliminated: [] }); // 2 of the last 5
    router.record(ok);
    router.record(ok);
    router.record(ok);
    router.record(tech);
    expect(router.recommend(VISA_EUR).eliminated).toEqual([]); // the first two left the last five
    router.record(ok);
    router.record(tech);
    router.record(tech);
    expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'B', eliminated: ['A'] }); // T S T T among the last 5
    // with the window off only the consecutive rule is left: the same answers do not eliminate
    const off = setup({ consecutiveFailures: 5, technicalWindowAnswers: 0 }).router;
    feed(off, 'A', 50, 0.9, T0, VISA_EUR);
    feed(off, 'B', 50, 0.8, T0, VISA_EUR);
    for (const o of [tech, ok, tech, ok, ok, ok, tech, ok, tech, tech]) off.record(o);
    expect(off.recommend(VISA_EUR).eliminated).toEqual([]);
    expect(() => setup({ technicalWindowFailures: 1.5 })).toThrow(RangeError);
  });

  it('counts late outcomes in the bucket of their own timestamp while it is in the window', () => {
    const bucketSeconds = 60;
    const { clock, router } = setup({ bucketSeconds, bucketCount: 5, decay: 1, minSamples: 1, minWindowOutcomes: 0 });
    clock.t = T0 + 10 * bucketSeconds;
    const late = { ...VISA_EUR, gateway: 'A', status: 'failure' as const, type: 'soft' as const };
    router.record({ ...late, at: clock.t - 3 * bucketSeconds }); // 3 buckets ago: still in the window
    router.record({ ...late, at: clock.t - 10 * bucketSeconds }); // long gone: dropped
    router.record({ ...VISA_EUR, gateway: 'A', status: 'success', at: clock.t });
    expect(router.stats()).toMatchObject({ recorded: 2, droppedStale: 1 });
    expect(router.routesTable()).toEqual([{ brand: 'visa', currency: 'EUR', gateway: 'A', successRate: 0.5, samples: 2, expectedValue: null }]);
    // Two buckets later the late outcome's own bucket leaves the window, the fresh one stays.
    clock.t += 2 * bucketSeconds;
    expect(router.routesTable()).toEqual([{ brand: 'visa', currency: 'EUR', gateway: 'A', successRate: 1, samples: 1, expectedValue: null }]);
  });

  it('refuses outcomes from the future and malformed outcomes', () => {
    const { router } = setup();
    router.record({ ...VISA_EUR, gateway: 'A', status: 'success', at: T0 + 3600 });
    expect(router.stats().droppedFuture).toBe(1);
    expect(() => router.record({ ...VISA_EUR, gateway: 'A', status: 'success', at: T0, currency: 'EURO' })).toThrow(RangeError);
    expect(() => router.record({ ...VISA_EUR, gateway: '', status: 'success', at: T0 })).toThrow(RangeError);
    expect(() => router.record({ ...VISA_EUR, gateway: 'A', status: 'ok' as never, at: T0 })).toThrow(RangeError);
    expect(() => router.record({ ...VISA_EUR, gateway: 'A', status: 'success', at: T0, amount: 1.5 })).toThrow(RangeError);
    expect(router.stats().recorded).toBe(0);
  });

  it('explores close to the configured share, never the best nor an eliminated gateway', () => {
    const { router } = setup({ explorationShare: 0.05, rng: mulberry32(7) });
    feed(router, 'A', 100, 0.9, T0, VISA_EUR);
    feed(router, 'B', 100, 0.8, T0, VISA_EUR);
    feed(router, 'C', 100, 0.7, T0, VISA_EUR);
    for (let i = 0; i < 5; i++) router.record({ ...VISA_EUR, gateway: 'C', status: 'failure', type: 'technical', at: T0 });
    const draws = 20_000;
    const picks = new Map<string, number>();
    let explored = 0;
    for (let i = 0; i < draws; i++) {
      const r = router.recommend(VISA_EUR);
      picks.set(r.gateway!, (picks.get(r.gateway!) ?? 0) + 1);
      if (r.explored) {
        explored++;
        expect(r.gateway).toBe('B');
      }
    }
    expect(explored / draws).toBeGreaterThan(0.045);
    expect(explored / draws).toBeLessThan(0.055);
    expect(picks.get('C')).toBeUndefined();
    expect(picks.get('B')).toBe(explored);
  });

  it('value objective: ties and small rate gaps go to the lower fee per attempt (fixed + bps of the amount)', () => {
    const gateways = [
      { id: 'A', feeFixedMinor: 10, feeBps: 300 },
      { id: 'B', feeFixedMinor: 100, feeBps: 0 },
    ];
    const { router } = setup({ gateways, objective: 'value' });
    feed(router, 'A', 40, 0.75, T0, VISA_EUR);
    feed(router, 'B', 40, 0.75, T0, VISA_EUR);
    feed(router, 'A', 40, 0.75, T0, { ...VISA_EUR, amount: 40_000 });
    feed(router, 'B', 40, 0.75, T0, { ...VISA_EUR, amount: 40_000 });
    expect(router.recommend({ ...VISA_EUR, amount: 1000 }).gateway).toBe('A'); // 40 vs 100
    expect(router.recommend({ ...VISA_EUR, amount: 40_000 }).gateway).toBe('B'); // 1210 vs 100
    // A better rate beats a cheaper fee only when the extra success is worth more than the extra
    // fee: 12.5 points on 400.00 at a 15% margin = 7.50 < 11.10 of extra fee; at 50% = 25.00 > 11.10.
    feed(router, 'A', 40, 1, T0, { ...VISA_EUR, amount: 40_000 });
    expect(router.recommend({ ...VISA_EUR, amount: 40_000 }).gateway).toBe('B');
    const rich = setup({ gateways, valueBps: 5000, objective: 'value' }).router;
    feed(rich, 'A', 40, 0.75, T0, { ...VISA_EUR, amount: 40_000 });
    feed(rich, 'B', 40, 0.75, T0, { ...VISA_EUR, amount: 40_000 });
    feed(rich, 'A', 40, 1, T0, { ...VISA_EUR, amount: 40_000 });
    expect(rich.recommend({ ...VISA_EUR, amount: 40_000 }).gateway).toBe('A');
  });

  it('with sparse data ranks by a smoothed rate; with none in the currency picks the cheapest', () => {
    const { router } = setup({ gateways: [{ id: 'A', feeFixedMinor: 30 }, { id: 'B', feeFixedMinor: 10 }] });
    feed(router, 'A', 2, 1, T0, VISA_EUR); // 2/2
    feed(router, 'B', 2, 0.5, T0, VISA_EUR); // 1/2
    expect(router.recommend(VISA_EUR)).toMatchObject({ gateway: 'A', successRate: 1, segmentLevel: 'brand+country+currency+band' });
    feed(router, 'B', 1, 1, T0, { ...VISA_EUR, currency: 'JPY' }); // 1/1 vs 19/20: the well-measured one wins
    feed(router, 'A', 20, 0.95, T0, { ...VISA_EUR, currency: 'JPY' });
    expect(router.recommend({ ...VISA_EUR, currency: 'JPY' })).toMatchObject({ gateway: 'A', segmentLevel: 'brand+country+currency+band' });
    // GBP: nothing in the currency; other currencies do not count.
    expect(router.recommend({ ...VISA_EUR, currency: 'GBP' })).toEqual({ gateway: 'B', successRate: null, explored: false, eliminated: [], segmentLevel: 'none' });
  });

  it('with no data picks the cheapest eligible gateway and says so', () => {
    const { router } = setup({ gateways: [{ id: 'X', feeFixedMinor: 30 }, { id: 'Y', feeFixedMinor: 20 }, { id: 'Z', feeFixedMinor: 5 }] });
    expect(router.recommend(VISA_EUR)).toEqual({ gateway: 'Z', successRate: null, explored: false, eliminated: [], segmentLevel: 'none' });
    expect(router.recommend({ ...VISA_EUR, eligible: ['X', 'Y'] }).gateway).toBe('Y');
    expect(new GatewayRouter({ clock: () => T0 * 1000 }).recommend(VISA_EUR).gateway).toBeNull();
  });

  it('routesTable gives brand × currency × gateway rates for the device dataset', () => {
    const { router } = setup({ decay: 1 });
    feed(router, 'A', 10, 0.9, T0, VISA_EUR);
    feed(router, 'B', 10, 0.5, T0, VISA_EUR);
    feed(router, 'A', 4, 0.5, T0, MC_USD);
    expect(router.routesTable()).toEqual([
      { brand: 'mastercard', currency: 'USD', gateway: 'A', successRate: 0.5, samples: 4, expectedValue: null },
      { brand: 'visa', currency: 'EUR', gateway: 'A', successRate: 0.9, samples: 10, expectedValue: null },
      { brand: 'visa', currency: 'EUR', gateway: 'B', successRate: 0.5, samples: 10, expectedValue: null },
    ]);
  });

  it('recordMany replays stored outcomes in time order', () => {
    const { router } = setup({ consecutiveFailures: 3 });
    const tech = (at: number): RoutingOutcome => ({ ...VISA_EUR, gateway: 'A', status: 'failure', type: 'technical', at });
    // Stored out of order: in time order the success comes first, then three technical failures.
    router.recordMany([tech(T0 - 3), tech(T0 - 2), { ...VISA_EUR, gateway: 'A', status: 'success', at: T0 - 5 }, tech(T0 - 1)]);
    expect(router.stats().eliminated).toEqual(['A']);
  });
});
