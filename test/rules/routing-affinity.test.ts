// Card × gateway affinity (rules/routing.ts): the gateway that approved a card last keeps it while
// its segment rate is within AFFINITY_MAX_GAP of the best — the mirror of avoiding the gateway that
// declined it. Shared by the device's offline route, and the service's router.
import { describe, expect, it } from 'vitest';
import { AFFINITY_MAX_GAP, approvedGateway, withAffinity } from '../../rules/routing.ts';

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
    { gateway: 'close', successRate: 0.95 - AFFINITY_MAX_GAP },
    { gateway: 'far', successRate: 0.95 - AFFINITY_MAX_GAP - 0.01 },
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
});
