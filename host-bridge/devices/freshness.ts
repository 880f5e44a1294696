// Each device's dataset age and freshness, for /v1/health, /metrics and the status page. Age counts
// from the dataset's creation; state "stale" means past expiry: the device then stops approving
// locally.
import type { DatasetState } from '../../protocol/messages/catalogue.ts';
import type { DeviceHandle, DeviceSummary } from './types.ts';

export interface DeviceDatasetAge {
  device: string;
  link: string;
  datasetVersion: number;
  datasetState: DatasetState;
  /** seconds since the dataset was created, null without a dataset */
  ageSeconds: number | null;
  /** seconds until expiry (negative once stale), null without a dataset */
  expiresInSeconds: number | null;
}

export function datasetAgeOf(s: DeviceSummary, nowMs: number): DeviceDatasetAge {
  const now = Math.floor(nowMs / 1000);
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
}

export function deviceDatasetAges(handles: readonly Pick<DeviceHandle, 'summary'>[], nowMs = Date.now()): DeviceDatasetAge[] {
  return handles.map((h) => datasetAgeOf(h.summary(), nowMs));
}

/** A dataset's age (or an uptime) in its largest unit for people: "90 s", "12 min", "5 h", "3 d";
 * `compact` for terminal columns: "90s", "12m", "5h", "3d". */
export function formatAge(seconds: number | null, compact = false): string {
  if (seconds === null) return 'no dataset';
  const [n, unit] =
    seconds < 120 ? [seconds, 's'] : seconds < 7200 ? [Math.round(seconds / 60), compact ? 'm' : 'min'] : seconds < 172800 ? [Math.round(seconds / 3600), 'h'] : [Math.round(seconds / 86400), 'd'];
  return compact ? `${n}${unit}` : `${n} ${unit}`;
}
