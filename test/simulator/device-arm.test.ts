// Arm B through a real verifier device: a tiny market played through the real service, the real
// bridge and the firmware's DeviceCore behind the HID virtual cable, with datasets published and
// synced on the simulated clock. After a sync the device answers returning customers itself.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario } from '../../tools/simulator/scenario.ts';
import { simulate } from '../../tools/simulator/simulate.ts';
import { startSimDevice } from '../../tools/simulator/simulate-device.ts';

const calm = loadScenario(path.resolve(import.meta.dirname, '../../bench/scenarios/calm.json'));

describe('simulator arm B with a verifier device', () => {
  it('goes through the device core: local-stage answers after a scheduled sync, lag measured in simulated time', async () => {
    // 3 simulated hours (12 sync ticks on the default 15-minute schedule), mostly returning
    // customers with one card, so cards seen early come back after a dataset reached the device.
    const raw = JSON.parse(JSON.stringify(calm));
    raw.durationHours = 3;
    raw.orders = 40;
    raw.customers.repeatShare = 0.8;
    raw.cards.cardsPerCustomer = { '1': 1 };
    raw.fraud.share = 0;
    const s = parseScenario(raw, 'tiny-device');
    const { report } = await simulate({ scenario: s, resamples: 20, target: { kind: 'self-contained', verifier: 'device', startDevice: startSimDevice } });
    expect(report.warnings).toEqual([]);
    const loop = report.deviceLoop!;
    expect(loop.schedule).toBe('*/15 * * * *');
    expect(loop.ticks).toBeGreaterThanOrEqual(12);
    expect(loop.syncFailures).toBe(0);
    expect(loop.syncsUpdated).toBeGreaterThan(0);
    // the local stage answered (only possible from a dataset the sync installed), and not only it
    expect(report.arms.B.stages.local ?? 0).toBeGreaterThan(0);
    expect(report.arms.B.stages.network ?? 0).toBeGreaterThan(0);
    // every reported outcome reached the device within one schedule interval (simulated seconds)
    expect(loop.lag.outcomes).toBe(report.arms.B.attempts);
    expect(loop.lag.delivered).toBe(loop.lag.outcomes);
    expect(loop.lag.max).toBeLessThanOrEqual(15 * 60);
    // arm A is the best single gateway
    expect(report.baseline.gateway).toBe('beta');
  }, 120_000);
});
