// Card × gateway affinity (rules/routing.ts): the gateway that approved a card last keeps it while
// its segment rate is within affinityGap(its rate) of the best — the mirror of avoiding the gateway that
// declined it. Shared by the device's offline route, and the service's router.
import { describe, expect, it } from 'vitest';
import { affinityGap, approvedGateway, withAffinity } from '../../rules/routing.ts';

const T = 1_700_000_000;

describe('approvedGateway', () => {
  it("is the gateway of the card's latest card-level success, cleared by a later decline there", () => {
    expect(approvedGateway([], T - 100)).toBeNull();
    const ev = [
      { gateway: 'a', status: 'success', at: T - 50 },
      { gateway: 'b', status: 'success', at: T - 20 },
    ];
    expect(approvedGateway(ev, T - 100)).toBe('b');
    // b declined the card afterwards: a is the one that approved it last and still would
    expect(approvedGateway([...ev, { gateway: 'b', status: 'failure', code: '05', type: 'soft', at: T - 10 }], T - 100)).toBe('a');
    // older than `since`: forgotten
    expect(approvedGateway(ev, T - 30)).toBe('b');
    expect(approvedGateway(ev, T - 10)).toBeNull();
  });

  it("ignores the gateway's own failures and an unavailable issuer (they say nothing about the pair)", () => {
    const ev = [
      { gateway: 'a', status: 'success', at: T - 50 },
      { gateway: 'a', status: 'failure', code: 'TIMEOUT', type: 'technical', at: T - 40 },
      { gateway: 'a', status: 'failure', code: '91', at: T - 30 },
    ];
    expect(approvedGateway(ev, T - 100)).toBe('a');
  });
});

describe('withAffinity', () => {
  const ranked = [
    { gateway: 'best', successRate: 0.95 },
    { gateway: 'close', successRate: 0.93 }, // 2 points below: within affinityGap(0.93) = 3.5
    { gateway: 'far', successRate: 0.85 }, // 10 points below: beyond affinityGap(0.85) = 7.5
  ];
  it('moves the approving gateway first when its rate is within the gap, else keeps the ranking', () => {
    expect(withAffinity(ranked, 'close').map((r) => r.gateway)).toEqual(['close', 'best', 'far']);
    expect(withAffinity(ranked, 'far').map((r) => r.gateway)).toEqual(['best', 'close', 'far']);
    expect(withAffinity(ranked, 'best').map((r) => r.gateway)).toEqual(['best', 'close', 'far']);
    expect(withAffinity(ranked, null).map((r) => r.gateway)).toEqual(['best', 'close', 'far']);
    expect(withAffinity(ranked, 'unknown').map((r) => r.gateway)).toEqual(['best', 'close', 'far']);
    // an unknown rate is no evidence of closeness
    expect(withAffinity([ranked[0], { gateway: 'x', successRate: null }], 'x').map((r) => r.gateway)).toEqual(['best', 'x']);
  });
  it("keeps the card while the approving gateway's repeat approval is likelier than a new card at the best: half its decline rate", () => {
    expect(affinityGap(0.95)).toBeCloseTo(0.025, 9);
    expect(affinityGap(0.84)).toBeCloseTo(0.08, 9);
    // a 90 % gateway that approved the card keeps it against a 95 % one (0.5 + 0.5 × 0.9 = 95 %)
    expect(withAffinity([{ gateway: 'best', successRate: 0.95 }, { gateway: 'mine', successRate: 0.9 }], 'mine').map((r) => r.gateway)).toEqual(['mine', 'best']);
    // 84 % against 93 % abroad: 9 points is more than 8, the card goes to the better acquirer
    expect(withAffinity([{ gateway: 'best', successRate: 0.93 }, { gateway: 'mine', successRate: 0.84 }], 'mine').map((r) => r.gateway)).toEqual(['best', 'mine']);
    // at 97 % the gap may be 1.5 points, not more
    expect(withAffinity([{ gateway: 'best', successRate: 0.99 }, { gateway: 'mine', successRate: 0.97 }], 'mine').map((r) => r.gateway)).toEqual(['best', 'mine']);
  });
});
