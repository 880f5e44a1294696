// The service's floor limits for unknown cards (server/datasets/floor-limits.ts): a segment gets a
// floor only with enough new-card first attempts, most of them paid, little fraud evidence; a
// fraud burst zeroes every floor until it has been quiet for the hold time; the device budget
// follows the new-card rate. Seeded outcome streams, no clock: every time is an input.
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_FLOOR_POLICY, FloorLearner, roundDown2, type FloorOutcome } from '../../server/datasets/floor-limits.ts';
import { Rng } from '../../tools/simulator/prng.ts';

const T0 = 1_800_000_000;
const H = 3600;

/** A stream of first attempts of new cards (fresh token, fresh order), one every `gap` seconds. */
function newCards(n: number, opts: { from?: number; gap?: number; ok?: number; seed?: number; brand?: string; currency?: string; crossBorder?: boolean; amount?: () => number } = {}): FloorOutcome[] {
  const rng = new Rng(opts.seed ?? 1, 'floor-test');
  const out: FloorOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const ok = rng.next() < (opts.ok ?? 0.9);
    out.push({
      merchant: 'm',
      orderId: `o-${opts.seed ?? 1}-${i}`,
      token: new Uint8Array(crypto.createHash('sha256').update(`${opts.seed ?? 1}:${i}`).digest().subarray(0, 16)),
      brand: opts.brand ?? 'visa',
      currency: opts.currency ?? 'EUR',
      crossBorder: opts.crossBorder ?? false,
      amount: opts.amount ? opts.amount() : 1000 + rng.int(9000),
      status: ok ? 'success' : 'failure',
      ...(ok ? {} : { code: '05', type: 'soft' }),
      at: (opts.from ?? T0) + i * (opts.gap ?? 600),
    });
  }
  return out;
}
const fraud = (at: number, i: number, code = '43'): FloorOutcome => ({
  merchant: 'm', orderId: `f-${at}-${i}`, token: crypto.randomBytes(16), brand: 'mastercard', currency: 'USD', crossBorder: true, amount: 4000, status: 'failure', code, type: code === '59' ? 'fraud' : 'hard', at,
});

describe('floor limits learned from outcomes', () => {
  it('a segment with enough new cards that mostly pay gets a floor: the 75th percentile of their amounts, capped at the trust limit of a barely trusted customer', () => {
    const f = new FloorLearner();
    const stream = newCards(60, { ok: 0.9 });
    for (const o of stream) f.record(o);
    const now = stream[stream.length - 1].at;
    const s = f.limits(now)!;
    expect(s.limits).toHaveLength(1);
    const amounts = stream.map((o) => o.amount).sort((a, b) => a - b);
    expect(s.limits[0]).toEqual({ brand: 'visa', currency: 'EUR', region: 'dom', limit: roundDown2(amounts[Math.ceil(0.75 * 60) - 1]) });
    expect([roundDown2(4873), roundDown2(99), roundDown2(100), roundDown2(14_285)]).toEqual([4800, 99, 100, 14_000]);
    // large orders: the cap (100 rough dollars = 10 000 EUR cents) wins
    const big = new FloorLearner();
    for (const o of newCards(60, { amount: () => 50_000 })) big.record(o);
    expect(big.limits(now)!.limits[0].limit).toBe(10_000);
    // JPY has no minor digits and ~0.007 USD per yen: the cap is in yen
    const yen = new FloorLearner();
    for (const o of newCards(60, { currency: 'JPY', amount: () => 1_000_000 })) yen.record(o);
    expect(yen.limits(now)!.limits[0]).toMatchObject({ currency: 'JPY', limit: 14_000 });
  });

  it('no floor without the evidence: too few new cards, too many of them failing, too much fraud in the segment, or cards it has seen before', () => {
    const few = new FloorLearner();
    for (const o of newCards(DEFAULT_FLOOR_POLICY.minNewCards - 1)) few.record(o);
    expect(few.limits(T0 + 30 * H)).toBeUndefined();

    const failing = new FloorLearner();
    for (const o of newCards(80, { ok: 0.5, seed: 2 })) failing.record(o);
    expect(failing.limits(T0 + 20 * H)).toBeUndefined();

    // 60 good outcomes, then 5 fraud-coded ones in the same segment spread over a day (no burst): 5/65 > 5%
    const fraudy = new FloorLearner();
    const stream = newCards(60, { gap: 1200 });
    for (const o of stream) fraudy.record(o);
    for (let i = 0; i < 5; i++) fraudy.record({ ...fraud(T0 + i * 4 * H, i, '41'), brand: 'visa', currency: 'EUR', crossBorder: false });
    expect(fraudy.limits(stream[59].at)).toBeUndefined();

    // returning cards (tokens seen before) and token-less outcomes are not new cards
    const returning = new FloorLearner();
    const once = newCards(40);
    for (const o of once) returning.record(o);
    for (const o of once) returning.record({ ...o, orderId: `${o.orderId}-again`, at: o.at + 40 * 600 });
    for (const o of newCards(40, { seed: 3 })) returning.record({ ...o, token: null });
    expect(returning.limits(T0 + 80 * 600)).toBeDefined(); // the first 40 count
    const onlyRepeats = new FloorLearner();
    for (const o of newCards(40, { seed: 4 })) onlyRepeats.record({ ...o, token: null });
    expect(onlyRepeats.limits(T0 + 40 * 600)).toBeUndefined();
  });

  it('a fraud burst brings every floor to zero at once, for the hold time after its last fraud outcome', () => {
    const f = new FloorLearner();
    const stream = newCards(100, { gap: 300 });
    for (const o of stream) f.record(o);
    let now = stream[99].at;
    expect(f.limits(now)).toBeDefined();
    // a quiet background: one fraud outcome every 4 hours is no burst
    // (the wave below hits another segment: the floors of every segment go)
    now += 60;
    for (let i = 0; i < DEFAULT_FLOOR_POLICY.burstMinCount; i++) f.record(fraud(now + i * 120, i));
    const burstEnd = now + (DEFAULT_FLOOR_POLICY.burstMinCount - 1) * 120;
    expect(f.burstHeld(burstEnd)).toBe(true);
    expect(f.limits(burstEnd)).toBeUndefined();
    expect(f.limits(burstEnd + DEFAULT_FLOOR_POLICY.holdSeconds - 1)).toBeUndefined();
    // the same amount of fraud spread thin is not a burst
    const thin = new FloorLearner();
    for (const o of stream) thin.record(o);
    for (let i = 0; i < DEFAULT_FLOOR_POLICY.burstMinCount; i++) thin.record(fraud(now + i * 4 * H, i));
    expect(thin.burstHeld(now + 12 * H + 1)).toBe(false);
  });

  it('the floors come back once the burst is over by the hold time and the evidence still holds', () => {
    const f = new FloorLearner();
    const a = newCards(100, { gap: 300 });
    for (const o of a) f.record(o);
    const t = a[99].at + 60;
    for (let i = 0; i < 6; i++) f.record(fraud(t + i * 60, i));
    expect(f.limits(t + 400)).toBeUndefined();
    const after = t + 300 + DEFAULT_FLOOR_POLICY.holdSeconds + 1;
    const b = newCards(50, { from: after, gap: 120, seed: 9 });
    for (const o of b) f.record(o);
    expect(f.burstHeld(b[49].at)).toBe(false);
    expect(f.limits(b[49].at)?.limits.map((l) => l.region)).toEqual(['dom']);
  });

  it('the device budget: twice the new-card rate of the floored segments per hour (in steps of 5), at least budgetMin', () => {
    const f = new FloorLearner();
    // 240 new cards in 24 h = 10 an hour → 20 per hour
    const stream = newCards(240, { gap: 360 });
    for (const o of stream) f.record(o);
    const s = f.limits(stream[0].at + 24 * H)!;
    expect(s).toMatchObject({ windowSeconds: 3600, maxApprovals: 20 });
    const slow = new FloorLearner();
    const few = newCards(40, { gap: 2 * H });
    for (const o of few) slow.record(o);
    expect(slow.limits(few[39].at)!.maxApprovals).toBe(DEFAULT_FLOOR_POLICY.budgetMin);
  });
});
