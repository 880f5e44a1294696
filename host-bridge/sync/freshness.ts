// Each device's dataset age and freshness, for /v1/health and /metrics (the bridge's API and
// metrics call this, or compute the same from DeviceSummary). Age counts from the dataset's
// creation; state "stale" means past expiry: the device then stops approving locally.
import type { DeviceHandle } from '../devices/types.ts';

export interface DeviceDatasetAge {
  device: string;
  link: string;
  datasetVersion: number;
  datasetState: 'fresh' | 'stale' | 'none';
  /** seconds since the dataset was created, null without a dataset */
  ageSeconds: number | null;
  /** seconds until expiry (negative once stale), null without a dataset */
  expiresInSeconds: number | null;
}

export function deviceDatasetAges(handles: readonly Pick<DeviceHandle, 'summary'>[], nowMs = Date.now()): DeviceDatasetAge[] {
  const now = Math.floor(nowMs / 1000);
  return handles.map((h) => {
    const s = h.summary();
    // judge expiry with our clock too: a device whose status was read before it expired is stale now
    const state = s.datasetExpiresAt !== null && s.datasetState === 'fresh' && now >= s.datasetExpiresAt ? 'stale' : s.datasetState;
    return {
      device: s.id,
      link: s.link,
      datasetVersion: s.datasetVersion,
      datasetState: state,
      ageSeconds: s.datasetCreatedAt === null ? null : Math.max(0, now - s.datasetCreatedAt),
      expiresInSeconds: s.datasetExpiresAt === null ? null : s.datasetExpiresAt - now,
    };
  });
}
