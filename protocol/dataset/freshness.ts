// Freshness: a dataset past its expiry is "stale" (it may still decline or escalate, never
// approve: see rules/); no dataset at all is "none".
import type { DatasetState } from '../messages/catalogue.ts';
import type { DatasetMeta } from './types.ts';

export function datasetState(meta: DatasetMeta | null | undefined, now: number): DatasetState {
  if (!meta) return 'none';
  return now < meta.expiresAt ? 'fresh' : 'stale';
}
