// The floor limit on the device: an unknown card at or below its segment's floor is approved
// locally on fresh data, on the order's first verification, while the dataset's budget of such
// approvals has room; the budget survives a restart; the section arrives by snapshot and by delta
// (and a delta removing it stops the approvals); the slot's content hash covers it.
import { describe, expect, it } from 'vitest';
import type { DatasetContent, FloorLimits } from '../../../protocol/dataset/types.ts';
import { NOW, PANS, baseContent, delta, openCore, snapshot, syncAll, coreEachTest } from './helpers.ts';

const VISA = ['4000000000000002', '4000000000000010', '4000000000000028', '4000000000000036', '4000000000000044'];
const floor = (maxApprovals = 3): FloorLimits => ({
  maxApprovals,
  windowSeconds: 3600,
  limits: [
    { brand: 'visa', currency: 'USD', region: 'dom', limit: 10_000 },
    { brand: 'visa', currency: 'USD', region: 'xb', limit: 2_000 },
  ],
});
const withFloor = (f: FloorLimits = floor()): DatasetContent => ({ ...baseContent(), floorLimits: f });

describe('floor limit on the device', () => {
  const t = coreEachTest({ merchantCountry: 'US' });
  const verify = (pan: string, amount: number, orderId: string | undefined, country = 'US') => t.core.verify({ pan, amount, currency: 'USD', country, ...(orderId ? { orderId } : {}) });

  it('approves an unknown card at or below the floor of its segment, with the segment route', () => {
    syncAll(t.core, snapshot(withFloor(), 1));
    expect(verify(VISA[0], 10_000, 'o1')).toMatchObject({ decision: 'approve', reason: 'floor_limit', gateway: 'gw-west', detail: '10000<=10000' });
    expect(verify(VISA[1], 10_001, 'o2')).toMatchObject({ decision: 'escalate', reason: 'unknown_card' });
    // cross-border has its own (lower) floor
    expect(verify(VISA[2], 2_500, 'o3', 'DE')).toMatchObject({ decision: 'escalate', reason: 'unknown_card' });
    expect(verify(VISA[3], 2_000, 'o4', 'DE')).toMatchObject({ decision: 'approve', reason: 'floor_limit' });
    // no floor for Mastercard, none without a known region beyond the lower of the two
    expect(t.core.verify({ pan: '5105105105105100', amount: 100, currency: 'USD', orderId: 'o5' }).reason).not.toBe('floor_limit');
    expect(t.core.verify({ pan: VISA[4], amount: 5_000, currency: 'USD', orderId: 'o6' })).toMatchObject({ decision: 'escalate' });
  });

  it('a repeat of the order (second card, or the same card again) and an order without id escalate', () => {
    syncAll(t.core, snapshot(withFloor(), 1));
    expect(verify(VISA[0], 1_000, 'o1')).toMatchObject({ reason: 'floor_limit' });
    expect(verify(VISA[0], 1_000, 'o1')).toMatchObject({ decision: 'escalate', reason: 'unknown_card' });
    expect(verify(VISA[1], 1_000, 'o1')).toMatchObject({ decision: 'escalate', reason: 'unknown_card' });
    // an order first escalated (too large) then tried with a smaller amount: still a repeat
    expect(verify(VISA[2], 50_000, 'o2')).toMatchObject({ decision: 'escalate' });
    expect(verify(VISA[2], 1_000, 'o2')).toMatchObject({ decision: 'escalate' });
    expect(verify(VISA[3], 1_000, undefined)).toMatchObject({ decision: 'escalate' });
  });

  it('never overrides the dataset: restricted, BIN rule and history still answer; known-good keeps its reason', () => {
    syncAll(t.core, snapshot(withFloor(), 1));
    expect(verify(PANS.restricted, 100, 'a')).toMatchObject({ decision: 'decline', reason: 'restricted' });
    expect(verify(PANS.hard, 100, 'b')).toMatchObject({ decision: 'decline', reason: 'hard_decline' });
    expect(t.core.verify({ pan: PANS.binDeclined, amount: 100, currency: 'USD', country: 'US', orderId: 'c' })).toMatchObject({ decision: 'decline', reason: 'bin_rule' });
    expect(verify(PANS.soft51, 95_000, 'd')).toMatchObject({ decision: 'review', reason: 'soft_decline' });
    expect(t.core.verify({ pan: PANS.knownGood, amount: 100, currency: 'USD', orderId: 'e' })).toMatchObject({ decision: 'approve', reason: 'known_good' });
  });

  it('stale data never floor-approves', () => {
    syncAll(t.core, snapshot(withFloor(), 1, { expiresAt: NOW + 60 }));
    t.clock.now = NOW + 61;
    expect(verify(VISA[0], 100, 'o1')).toMatchObject({ decision: 'escalate', reason: 'stale_data' });
  });

  it('the budget: at most maxApprovals in any window, kept across a restart, room again as the window rolls', () => {
    syncAll(t.core, snapshot(withFloor(floor(2)), 1));
    expect(verify(VISA[0], 100, 'o1').reason).toBe('floor_limit');
    t.clock.now = NOW + 600;
    expect(verify(VISA[1], 100, 'o2').reason).toBe('floor_limit');
    expect(verify(VISA[2], 100, 'o3')).toMatchObject({ decision: 'escalate', reason: 'unknown_card' });
    t.core.close();
    t.core = openCore(t.dir, { merchantCountry: 'US', clock: t.clock });
    expect(verify(VISA[3], 100, 'o4')).toMatchObject({ decision: 'escalate', reason: 'unknown_card' });
    // the first approval leaves the window (now - 3600, now]: room for one
    t.clock.now = NOW + 3600;
    expect(verify(VISA[3], 100, 'o5').reason).toBe('floor_limit');
    expect(verify(VISA[4], 100, 'o6').reason).toBe('unknown_card');
  });

  it('arrives by delta, changes by delta, and a delta removing it stops the approvals (content hash checked each time)', () => {
    const v1 = baseContent();
    syncAll(t.core, snapshot(v1, 1));
    expect(verify(VISA[0], 100, 'o1').reason).toBe('unknown_card');
    const v2 = withFloor();
    syncAll(t.core, delta(v1, v2, 1, 2));
    expect(verify(VISA[1], 100, 'o2').reason).toBe('floor_limit');
    const v3 = withFloor({ ...floor(), limits: [{ brand: 'visa', currency: 'USD', region: 'dom', limit: 50 }] });
    syncAll(t.core, delta(v2, v3, 2, 3));
    expect(verify(VISA[2], 100, 'o3').reason).toBe('unknown_card');
    expect(verify(VISA[3], 50, 'o4').reason).toBe('floor_limit');
    syncAll(t.core, delta(v3, v1, 3, 4));
    expect(verify(VISA[4], 10, 'o5').reason).toBe('unknown_card');
  });
});

describe('floor limit: a device without a dataset', () => {
  const t = coreEachTest({ merchantCountry: 'US' });
  it('escalates with no_data', () => {
    expect(t.core.verify({ pan: VISA[0], amount: 100, currency: 'USD', orderId: 'x' })).toMatchObject({ decision: 'escalate', reason: 'no_data' });
  });
});
