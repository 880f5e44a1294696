import { describe, expect, it } from 'vitest';
import { RouterRecommender } from '../../../server/routing/recommender.ts';

const T = 1_700_000_000;

describe('RouterRecommender', () => {
  it('routes only to registered gateways, with their fees, and replays stored outcomes', async () => {
    let gateways = [
      { name: 'acme', feePerAttempt: 30, feeBps: 0 },
      { name: 'bolt', feePerAttempt: 10, feeBps: 0 },
    ];
    const rec = new RouterRecommender(async () => gateways, { clock: () => T * 1000, explorationShare: 0 });
    // No data: cheapest registered gateway.
    expect(await rec.recommend({ brand: null, currency: 'EUR', amount: 1000 })).toMatchObject({ gateway: 'bolt', successRate: null });
    const outcomes = [];
    for (let i = 0; i < 30; i++) {
      outcomes.push({ gateway: 'acme', brand: 'visa', currency: 'EUR', amount: 1000, status: (i % 10 === 0 ? 'failure' : 'success') as 'success' | 'failure', at: T - 60 });
      outcomes.push({ gateway: 'bolt', brand: 'visa', currency: 'EUR', amount: 1000, status: (i % 2 === 0 ? 'failure' : 'success') as 'success' | 'failure', at: T - 60 });
      outcomes.push({ gateway: 'ghost', brand: 'visa', currency: 'EUR', amount: 1000, status: 'success' as const, at: T - 60 });
    }
    rec.replay(outcomes);
    const r = await rec.recommend({ brand: 'visa', currency: 'EUR', amount: 1000 });
    expect(r).toMatchObject({ gateway: 'acme', explored: false }); // 'ghost' is not registered
    expect(r!.successRate).toBeCloseTo(0.9, 5);
    expect(rec.record({ gateway: 'acme', brand: 'visa', currency: 'EURO', amount: 1, status: 'success', at: T })).toBe(false);
    const routes = await rec.routesTable();
    // Only the first choice per brand × currency goes to the dataset.
    expect(routes).toEqual([{ brand: 'visa', currency: 'EUR', gateway: 'acme', successRate: 0.9 }]);
    gateways = [{ name: 'ghost', feePerAttempt: 1, feeBps: 0 }];
    await rec.refreshGateways();
    expect((await rec.recommend({ brand: 'visa', currency: 'EUR', amount: 1000 }))!.gateway).toBe('ghost');
  });
});
