// Arm B through a real verifier device: a tiny market played through the real service, the real
// bridge and the firmware's DeviceCore behind the HID virtual cable, with datasets published and
// synced on the simulated clock. After a sync the device answers returning customers itself.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario } from '../../tools/simulator/scenario.ts';
import { simulate } from '../../tools/simulator/simulate.ts';
import { startSimDevice } from '../../tools/simulator/simulate-device.ts';

const calm = loadScenario(path.resolve(import.meta.dirname, '../../bench/scenarios/calm.json'));

/** 3 simulated hours (12 sync ticks on the default 15-minute schedule), mostly returning customers
 * with one card, so cards seen early come back after a dataset reached the device. */
function tiny() {
  const raw = JSON.parse(JSON.stringify(calm));
  raw.durationHours = 3;
  raw.orders = 40;
  raw.customers.repeatShare = 0.8;
  raw.cards.cardsPerCustomer = { '1': 1 };
  raw.fraud.share = 0;
  return parseScenario(raw, 'tiny-device');
}

describe('simulator arm B with a verifier device', () => {
  it("follows production's loop: the publisher's own schedule and the bridge's sync follower on the simulated clock; lag under a minute", async () => {
    const { report } = await simulate({ scenario: tiny(), resamples: 20, target: { kind: 'self-contained', verifier: 'device', startDevice: startSimDevice } });
    expect(report.warnings).toEqual([]);
    const loop = report.deviceLoop!;
    expect(loop.schedule).toBe('*/15 * * * *');
    expect(loop.ticks).toBeGreaterThanOrEqual(12);
    expect(loop.syncFailures).toBe(0);
    // the follower, not the schedule, brought the datasets
    expect(loop.follow).not.toBeNull();
    expect(loop.follow!.failed).toBe(0);
    expect(loop.follow!.updated).toBeGreaterThan(0);
    // the local stage answered (only possible from a dataset a sync installed), and not only it
    expect(report.arms.B.stages.local ?? 0).toBeGreaterThan(0);
    expect(report.arms.B.stages.network ?? 0).toBeGreaterThan(0);
    // every reported outcome reached the device, within a minute (simulated seconds): the
    // publisher's debounce (2 s, at most 10 s) + the follower's poll (20 s) + its 1 s debounce
    expect(loop.lag.outcomes).toBe(report.arms.B.attempts);
    expect(loop.lag.delivered).toBe(loop.lag.outcomes);
    expect(loop.lag.max).toBeLessThanOrEqual(60);
    // arm A is the best single gateway
    expect(report.baseline.gateway).toBe('beta');
  }, 180_000);

  it('without the follower (--no-sync-follow) the schedule alone sets the lag: up to one interval', async () => {
    const { report } = await simulate({ scenario: tiny(), resamples: 20, target: { kind: 'self-contained', verifier: 'device', startDevice: startSimDevice, syncFollow: false } });
    const loop = report.deviceLoop!;
    expect(loop.follow).toBeNull();
    expect(loop.syncFailures).toBe(0);
    expect(loop.syncsUpdated).toBeGreaterThan(0);
    expect(report.arms.B.stages.local ?? 0).toBeGreaterThan(0);
    expect(loop.lag.delivered).toBe(loop.lag.outcomes);
    expect(loop.lag.max).toBeLessThanOrEqual(15 * 60);
    expect(loop.lag.p50).toBeGreaterThan(60);
  }, 180_000);
});
