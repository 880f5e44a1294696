// What a gateway's success rate counts: a card's first answer at the gateway, approvals and the
// answers that differ by gateway (05 and other generic declines, the gateway's own failures).
// Answers any gateway would give (51 funds, 57 not enabled abroad, 54 expired, 14 no such number,
// 91 issuer down ...) and a card's repeat answers at a gateway that answered it before stay out:
// counted, they made two gateways the market separates by 9 points look alike (fraud-wave replay).
import { describe, expect, it } from 'vitest';
import { GatewayRouter, type RouterOptions, type RoutingOutcome } from '../../../server/routing/router.ts';
import { GATEWAY_NEUTRAL_CODES, classifyOutcome } from '../../../rules/response-codes.ts';
import { mulberry32 } from '../../../server/routing/rng.ts';

const T0 = 1_700_000_100; // a 5-minute bucket boundary: every outcome below in one bucket (no decay weights)
const SEG = { brand: 'visa', issuerCountry: 'US', crossBorder: true, currency: 'EUR', amount: 5000 };
const GATEWAYS = [
  { id: 'alpha', feeFixedMinor: 12 },
  { id: 'beta', feeFixedMinor: 25 },
];

function setup(opts: RouterOptions = {}) {
  const clock = { t: T0 };
  const router = new GatewayRouter({ gateways: GATEWAYS, explorationShare: 0, clock: () => clock.t * 1000, rng: mulberry32(1), ...opts });
  let n = 0;
  const rec = (gateway: string, status: 'success' | 'failure', extra: Partial<RoutingOutcome> = {}) => {
    clock.t += 1;
    router.record({ ...SEG, gateway, status, code: status === 'success' ? '00' : '05', type: status === 'success' ? null : 'soft', at: clock.t, card: `card-${++n}`, ...extra });
  };
  const rate = (g: string) => router.ranking({ ...SEG, eligible: [g] })[0].successRate;
  const first = () => router.ranking(SEG)[0].gateway;
  return { router, rec, rate, first };
}

describe('the gateway success estimator', () => {
  it("card-level answers any gateway would give (51, 57, 54, 14, 91 ...) do not lower a gateway's rate; a 05 does", () => {
    const { rec, rate, first } = setup();
    // alpha: 40 new cards, 32 approved, 8 generic declines = 80 %
    for (let i = 0; i < 40; i++) rec('alpha', i % 5 === 0 ? 'failure' : 'success');
    // beta: 40 new cards, 34 approved, 6 generic declines = 85 %, and it took the new cards first,
    // so it also met 30 cards that no gateway could have approved
    for (let i = 0; i < 40; i++) rec('beta', i < 6 ? 'failure' : 'success');
    const cardLevel: Array<[string, 'hard' | 'soft']> = [['51', 'soft'], ['57', 'hard'], ['54', 'soft'], ['14', 'hard'], ['91', 'soft'], ['62', 'hard'], ['61', 'soft'], ['46', 'hard'], ['96', 'soft'], ['04', 'hard']];
    for (let i = 0; i < 30; i++) rec('beta', 'failure', { code: cardLevel[i % cardLevel.length][0], type: cardLevel[i % cardLevel.length][1] });
    expect(rate('alpha')).toBeCloseTo(0.8, 5);
    expect(rate('beta')).toBeCloseTo(0.85, 5); // counted, the 30 made it 34/70 = 49 %
    expect(first()).toBe('beta');
    // a generic decline is how gateways differ: it counts
    for (let i = 0; i < 10; i++) rec('beta', 'failure');
    expect(rate('beta')).toBeCloseTo(34 / 50, 5);
    expect(first()).toBe('alpha');
  });

  it("a card's repeat approvals at the gateway that approved it do not inflate that gateway's rate", () => {
    const { rec, rate, first } = setup();
    // alpha approves 30 of 40 new cards (75 %) ...
    for (let i = 0; i < 40; i++) rec('alpha', i % 4 === 0 ? 'failure' : 'success', { card: `a-${i}` });
    // ... and its 30 returning customers come back three times each (affinity), approved every time
    for (let k = 0; k < 3; k++) for (let i = 0; i < 40; i++) if (i % 4 !== 0) rec('alpha', 'success', { card: `a-${i}` });
    // beta approves 34 of 40 new cards (85 %)
    for (let i = 0; i < 40; i++) rec('beta', i < 6 ? 'failure' : 'success', { card: `b-${i}` });
    expect(rate('alpha')).toBeCloseTo(0.75, 5); // with the repeats: 120/130 = 92 %, ranked first
    expect(rate('beta')).toBeCloseTo(0.85, 5);
    expect(first()).toBe('beta');
    // a repeat decline does not lower it either (a decline at an acquirer tends to repeat there)
    for (let i = 0; i < 40; i += 4) rec('alpha', 'failure', { card: `a-${i}` });
    expect(rate('alpha')).toBeCloseTo(0.75, 5);
  });

  it('counts every answer of an outcome without a card key, and a timeout of a known card', () => {
    const { router, rec, rate } = setup();
    for (let i = 0; i < 20; i++) rec('alpha', 'success', { card: 'same' });
    expect(rate('alpha')).toBeCloseTo(1, 5);
    expect(router.stats().repeats).toBe(19);
    for (let i = 0; i < 20; i++) rec('alpha', 'success', { card: null });
    for (let i = 0; i < 2; i++) rec('alpha', 'failure', { card: 'same', code: 'TIMEOUT', type: 'technical' });
    // 1 first answer of 'same' + 20 without a key approved; the 2 timeouts are the gateway's own
    expect(rate('alpha')).toBeCloseTo(21 / 23, 5);
  });

  it('remembers a card for cardMemorySeconds (then its answer is a new card’s again), at most cardMemoryMax pairs', () => {
    const { router, rec } = setup({ cardMemorySeconds: 10, cardMemoryMax: 2 });
    rec('alpha', 'success', { card: 'x' });
    rec('alpha', 'success', { card: 'x' }); // 1 s later: a repeat
    expect(router.stats().repeats).toBe(1);
    for (let i = 0; i < 12; i++) rec('beta', 'success', { card: `fill-${i % 2}` }); // 12 s later, two other pairs
    rec('alpha', 'success', { card: 'x' }); // evicted (cap 2) and older than 10 s anyway
    expect(router.stats().repeats).toBe(11);
  });
});

describe('GATEWAY_NEUTRAL_CODES (rules/response-codes.ts)', () => {
  it('holds the card and issuer answers, not the generic decline, 1A, approvals or the gateway failures', () => {
    for (const code of ['51', '57', '62', '54', '14', '41', '43', '59', '61', '65', '91', '96', '04', '46', '93']) {
      expect(GATEWAY_NEUTRAL_CODES.has(code), code).toBe(true);
      expect(classifyOutcome({ status: 'failure', code }).gatewayNeutral, code).toBe(true);
    }
    for (const code of ['05', '1A', 'TIMEOUT', '68', '92', 'XY']) {
      expect(GATEWAY_NEUTRAL_CODES.has(code), code).toBe(false);
      expect(classifyOutcome({ status: 'failure', code }).gatewayNeutral, code).toBe(false);
    }
    expect(classifyOutcome({ status: 'success', code: '00' }).gatewayNeutral).toBe(false);
    expect(classifyOutcome({ status: 'failure', type: 'hard' }).gatewayNeutral).toBe(false); // no code: not known to be the card's
  });
});
