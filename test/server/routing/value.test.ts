import { describe, expect, it } from 'vitest';
import { GatewayRouter, type RouterOptions } from '../../../server/routing/router.ts';

const T0 = 1_700_000_000;
const SEG = { brand: 'visa', issuerCountry: 'DE', currency: 'EUR' };

/** Records n outcomes with exactly `successes` successes, all at amount `amount`. */
function feed(router: GatewayRouter, gateway: string, n: number, successes: number, amount: number): void {
  for (let i = 0; i < n; i++) {
    const ok = i < successes;
    router.record({ ...SEG, gateway, amount, at: T0, status: ok ? 'success' : 'failure', type: ok ? undefined : 'soft' });
  }
}

// These are the merchant's explicit value objective (the default is success first: success.test.ts).
function setup(opts: RouterOptions, feedAmount = 5000) {
  const router = new GatewayRouter({ explorationShare: 0, decay: 1, clock: () => T0 * 1000, objective: 'value', ...opts });
  feed(router, 'cheap', 100, 80, feedAmount); // 80%
  feed(router, 'dear', 100, 81, feedAmount); // 81%: one point better
  return router;
}

// cheap: 10 per attempt; dear: 60 + 5 bps. At a 15% margin one point of success is worth
// 0.0015 × amount, against 50 + 0.0005 × amount of extra fee: break-even at 500.00 EUR.
const FEES = [
  { id: 'cheap', feeFixedMinor: 10 },
  { id: 'dear', feeFixedMinor: 60, feeBps: 5 },
];

describe('value objective (a merchant choice)', () => {
  it('a dearer gateway one point better loses on a small order and wins on a large one', () => {
    const router = setup({ gateways: FEES });
    const small = router.recommend({ ...SEG, amount: 2000 }); // 20 EUR: 0.30 of extra success for 0.51 of extra fee
    expect(small).toMatchObject({ gateway: 'cheap', explored: false });
    expect(small.successRate).toBeCloseTo(0.8, 9);
    const large = router.recommend({ ...SEG, amount: 500_000 }); // 5000 EUR: 75.00 of extra success for 2.90 of extra fee
    expect(large).toMatchObject({ gateway: 'dear', explored: false });
    expect(large.successRate).toBeCloseTo(0.81, 9);
  });

  it('the merchant margin moves the break-even', () => {
    // 100 EUR: one point of success is worth 0.15 at the default 15% margin (< 0.55 of extra fee),
    // 1.00 at a 100% margin (> 0.55).
    expect(setup({ gateways: FEES }).recommend({ ...SEG, amount: 10_000 }).gateway).toBe('cheap');
    expect(setup({ gateways: FEES, valueBps: 10_000 }).recommend({ ...SEG, amount: 10_000 }).gateway).toBe('dear');
    // 1000 EUR at a 1% margin: 0.10 of extra success for 1.00 of extra fee.
    expect(setup({ gateways: FEES, valueBps: 100 }).recommend({ ...SEG, amount: 100_000 }).gateway).toBe('cheap');
    expect(() => new GatewayRouter({ valueBps: 0 })).toThrow(RangeError);
    expect(() => new GatewayRouter({ valueBps: Number.NaN })).toThrow(RangeError);
  });

  it('with equal fees the best success rate wins as before, and a tie goes to the cheaper fee', () => {
    const equal = setup({ gateways: [{ id: 'cheap', feeFixedMinor: 20 }, { id: 'dear', feeFixedMinor: 20 }] });
    expect(equal.recommend({ ...SEG, amount: 2000 }).gateway).toBe('dear');
    expect(equal.recommend({ ...SEG, amount: 1 }).gateway).toBe('dear');
    // Rates 0.05 point apart (within tieTolerance) with a 1-unit fee difference: the cheaper one.
    const router = new GatewayRouter({ explorationShare: 0, decay: 1, clock: () => T0 * 1000, objective: 'value', gateways: [{ id: 'a', feeFixedMinor: 21 }, { id: 'b', feeFixedMinor: 20 }] });
    feed(router, 'a', 2000, 1601, 5000);
    feed(router, 'b', 2000, 1600, 5000);
    expect(router.recommend({ ...SEG, amount: 5000 }).gateway).toBe('b');
  });

  it('routesTable ranks each brand × currency like recommend() at the mean recorded amount', () => {
    const small = setup({ gateways: FEES }, 2000);
    const rows = small.routesTable();
    expect(rows.map((r) => r.gateway)).toEqual(['cheap', 'dear']);
    // 0.80 × 2000 × 15% − 10 = 230; 0.81 × 2000 × 15% − 61 = 182.
    expect(rows[0]).toMatchObject({ brand: 'visa', currency: 'EUR', successRate: 0.8, samples: 100 });
    expect(rows[0].expectedValue).toBeCloseTo(230, 9);
    expect(rows[1].expectedValue).toBeCloseTo(182, 9);
    expect(setup({ gateways: FEES }, 500_000).routesTable().map((r) => r.gateway)).toEqual(['dear', 'cheap']);
    // Unknown fees: no value, ranked by rate.
    const unknown = setup({}, 2000).routesTable();
    expect(unknown.map((r) => [r.gateway, r.expectedValue])).toEqual([['dear', null], ['cheap', null]]);
  });
});
