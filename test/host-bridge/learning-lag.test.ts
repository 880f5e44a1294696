// Outcome → device lag: an outcome counts as delivered to a device once a sync leaves the device on
// a dataset the service created in a later second than it accepted the outcome; p50/p99 per
// device; nothing is counted twice; what a device does not hold yet is reported as pending.
import { describe, expect, it } from 'vitest';
import { LearningLag } from '../../host-bridge/metrics/learning-lag.ts';
import { observeSyncReport } from '../../host-bridge/bridge.ts';

describe('LearningLag', () => {
  it('counts each accepted outcome once per device, when a dataset created after it arrives', () => {
    const lag = new LearningLag();
    lag.accepted(1_000_000); // t = 1000.0 s
    lag.accepted(1_001_500); // 1001.5 s
    lag.accepted(1_003_200); // 1003.2 s
    // a dataset created at 1002 s holds the first two; the device has it at 1010 s
    expect(lag.delivered('dev-1', 1002, 1_010_000)).toBe(2);
    expect(lag.quantiles('dev-1')).toEqual({ p50: 8.5, p99: 10, count: 2 });
    expect(lag.pending('dev-1')).toBe(1);
    // the same version again (or an older one) delivers nothing new
    expect(lag.delivered('dev-1', 1002, 1_020_000)).toBe(0);
    // the same second as the acceptance is not "after": counted with the next version
    expect(lag.delivered('dev-1', 1003, 1_020_000)).toBe(0);
    expect(lag.delivered('dev-1', 1004, 1_020_000)).toBe(1);
    expect(lag.pending('dev-1')).toBe(0);
    // a device first seen now starts from what is still pending; from then on each device
    // measures its own lag for the same outcomes
    expect(lag.delivered('dev-2', 1004, 1_030_000)).toBe(0);
    lag.accepted(1_040_000);
    expect(lag.delivered('dev-1', 1041, 1_050_000)).toBe(1);
    expect(lag.pending('dev-2')).toBe(1);
    expect(lag.delivered('dev-2', 1041, 1_060_000)).toBe(1);
    expect(lag.quantiles('dev-2')).toEqual({ p50: 20, p99: 20, count: 1 });
  });

  it('reads the sync report rows: only dataset rows that brought a new version count', () => {
    const lag = new LearningLag();
    lag.accepted(5_000);
    observeSyncReport(lag, { results: [{ device: 'd', kind: 'dataset', result: 'up-to-date', createdAt: 100 }, { device: 'd', kind: 'firmware', result: 'updated' }] }, 50_000);
    expect(lag.quantiles('d')).toBeNull();
    observeSyncReport(lag, { results: [{ device: 'd', kind: 'dataset', result: 'updated', createdAt: 10 }] }, 50_000);
    expect(lag.quantiles('d')).toEqual({ p50: 45, p99: 45, count: 1 });
  });
});
