import { describe, expect, it } from 'vitest';
import { STATS, armMetrics, compareArms, pairedBootstrap, pairedNormalInterval, percentile } from '../../tools/simulator/stats.ts';
import { newOrderResult, type OrderResult } from '../../tools/simulator/engine.ts';
import { Rng } from '../../tools/simulator/prng.ts';

const result = (i: number, paid: boolean, fees: number, attempts = 1, fraud = false): OrderResult => ({
  ...newOrderResult(`o${i}`, fraud),
  paid,
  paidAmount: paid ? 100 : 0,
  attempts,
  fees,
  end: paid ? 'paid' : 'gave_up',
});

describe('simulator confidence intervals', () => {
  it('percentile interpolates between closest ranks', () => {
    expect(percentile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(percentile([10, 20], 0.25)).toBe(12.5);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it('paired normal interval on known data (hand-computed)', () => {
    // d = b − a = [1, 0, 0, 0]: mean 0.25, sample sd 0.5, half-width 1.959964 · 0.5 / 2
    const i = pairedNormalInterval([0, 1, 0, 1], [1, 1, 0, 1]);
    expect(i.estimate).toBeCloseTo(0.25, 12);
    expect(i.low).toBeCloseTo(0.25 - 0.489991, 6);
    expect(i.high).toBeCloseTo(0.25 + 0.489991, 6);
    expect(() => pairedNormalInterval([0], [0, 1])).toThrow(RangeError);
  });

  it('bootstrap of a constant per-order shift is exactly that shift', () => {
    const a = Array.from({ length: 50 }, (_, i) => result(i, true, 10 + (i % 7)));
    const b = a.map((r) => ({ ...r, fees: r.fees + 4 }));
    const i = pairedBootstrap(a, b, STATS.feesPerPaid, { resamples: 300 });
    expect(i.estimate).toBeCloseTo(4, 12);
    expect(i.low).toBeCloseTo(4, 12);
    expect(i.high).toBeCloseTo(4, 12);
  });

  it('bootstrap and normal approximation agree on a large paired binary sample, and detect the uplift', () => {
    // 4000 orders; A pays with p = 0.85; B pays whenever A does, plus 30% of A's failures → true uplift 0.045
    const rng = new Rng(99, 'ci');
    const a: OrderResult[] = [];
    const b: OrderResult[] = [];
    for (let i = 0; i < 4000; i++) {
      const pa = rng.next() < 0.85;
      const pb = pa || rng.next() < 0.3;
      a.push(result(i, pa, 10));
      b.push(result(i, pb, 10));
    }
    const c = compareArms(a, b, { resamples: 1000, seed: 3 });
    const n = c.successRateNormal;
    expect(c.successRate.estimate).toBeCloseTo(n.estimate, 12);
    expect(Math.abs(c.successRate.low - n.low)).toBeLessThan(0.002);
    expect(Math.abs(c.successRate.high - n.high)).toBeLessThan(0.002);
    // one sample: the estimate is within a few standard errors (se ≈ 0.0033) of the truth
    expect(Math.abs(n.estimate - 0.045)).toBeLessThan(0.012);
    expect(n.high - n.low).toBeGreaterThan(0.01);
    expect(n.high - n.low).toBeLessThan(0.02);
    expect(n.low).toBeGreaterThan(0); // the uplift is detected
    // reproducible: same seed, same interval
    expect(compareArms(a, b, { resamples: 1000, seed: 3 }).successRate).toEqual(c.successRate);
  });

  it('excludes fraud orders from the success rate and counts them as let through', () => {
    const a = [result(0, true, 10), result(1, false, 10), result(2, true, 10, 1, true)];
    const b = [result(0, true, 10), result(1, true, 10), result(2, false, 0, 0, true)];
    const c = compareArms(a, b, { resamples: 50 });
    expect(c.successRate.estimate).toBeCloseTo(0.5, 12);
    expect(c.fraudLetThroughRate.estimate).toBe(-1);
    // fees per paid legitimate order: A 30/1, B 20/2
    expect(c.feesPerPaid.estimate).toBeCloseTo(10 - 30, 12);
  });

  it('gateway attempt success rate, stage mix and false declines per reason (hand-computed)', () => {
    const att = (ok: boolean) => ({ card: 'c', gateway: 'g', status: ok ? ('success' as const) : ('failure' as const), code: ok ? null : '05', type: ok ? null : 'soft', fee: 1 });
    const log = (stage: string, t: number) => ({ card: 'c', decision: 'approve', reason: 'x', prompt: null, gateway: 'g', stage, t });
    // A: 2 approved of 5 attempts; B: 2 of 2
    const a = [{ ...result(0, true, 2, 2), attemptLog: [att(false), att(true)] }, { ...result(1, true, 3, 3), attemptLog: [att(false), att(false), att(true)] }];
    const b = [
      { ...result(0, true, 1, 1), attemptLog: [att(true)], precheckLog: [log('network', 100)] },
      { ...result(1, true, 1, 1), attemptLog: [att(true)], precheckLog: [log('local', 90_000), log('local', 90_001)], falseDeclines: 1, falseDeclineReasons: { trust_too_low: 1 } },
    ];
    expect(armMetrics(a).attemptSuccessRate).toBeCloseTo(0.4, 12);
    const mb = armMetrics(b);
    expect(mb.attemptSuccessRate).toBe(1);
    expect(mb.stages).toEqual({ network: 1, local: 2 });
    expect(mb.stagesAfterDay1).toEqual({ local: 2 }); // t ≥ 86 400 s
    expect(mb.falseDeclineReasons).toEqual({ trust_too_low: 1 });
    expect(compareArms(a, b, { resamples: 50 }).attemptSuccessRate.estimate).toBeCloseTo(0.6, 12);
  });

  it('refuses arms that played different orders', () => {
    expect(() => compareArms([result(0, true, 1)], [result(1, true, 1)])).toThrow(/different orders/);
    expect(() => compareArms([result(0, true, 1)], [])).toThrow(/different numbers/);
  });
});
