// The in-memory model of applying a dataset delta, for tests: the product's one applier is the
// device's (device/store/dataset-slots.ts, in SQL), and tests check diffContent, the service's
// served deltas and that applier against this model.
import { ProtocolError } from '../protocol/errors.ts';
import { KEYED, contentHash, normalizeContent, tokenKey } from '../protocol/dataset/codec.ts';
import type { DatasetContent, DatasetDelta, DatasetManifest } from '../protocol/dataset/types.ts';

const joinKey = (parts: string[]) => JSON.stringify(parts);

function applySection<T, K>(base: T[], remove: K[], upsert: T[], key: (x: T) => string, removeKey: (k: K) => string): T[] {
  const m = new Map<string, T>();
  for (const x of base) m.set(key(x), x);
  for (const k of remove) m.delete(removeKey(k));
  for (const y of upsert) m.set(key(y), y);
  return [...m.values()];
}

/**
 * Apply a delta in memory; the result is normalised (canonical order). Removing an absent key is
 * ignored: a delta is only ever applied to its exact base version, and applyOnto checks the
 * result's contentHash, which catches any divergence.
 */
export function applyDelta(a: DatasetContent, d: DatasetDelta): DatasetContent {
  const tk = (t: Uint8Array) => tokenKey(t);
  const result: DatasetContent = {
    restricted: applySection(a.restricted, d.restricted.remove, d.restricted.upsert, (r) => tk(r.token), tk),
    knownGood: applySection(a.knownGood, d.knownGood.remove, d.knownGood.upsert, (r) => tk(r.token), tk),
    history: applySection(a.history, d.history.remove, d.history.upsert, (r) => tk(r.token), tk),
    binRules: applySection(a.binRules, d.binRules.remove, d.binRules.upsert, (r) => r.prefix, (k) => k),
    prompts: applySection(a.prompts, d.prompts.remove, d.prompts.upsert, (r) => joinKey(KEYED.PROMPT.key(r)), (k) => joinKey([k.code, k.lang])),
    routes: applySection(a.routes, d.routes.remove, d.routes.upsert, (r) => joinKey(KEYED.ROUTE.key(r)), (k) => joinKey(KEYED.ROUTE.key({ ...k, successRate: 0 }))),
  };
  const filter = d.restrictedFilter === undefined ? a.restrictedFilter : d.restrictedFilter;
  if (filter) result.restrictedFilter = filter;
  const health = d.gatewayHealth === undefined ? a.gatewayHealth : d.gatewayHealth;
  if (health && health.length > 0) result.gatewayHealth = health;
  const floor = d.floorLimits === undefined ? a.floorLimits : d.floorLimits;
  if (floor) result.floorLimits = floor;
  return normalizeContent(result);
}

/** applyDelta onto `base`, checked against the delta manifest's contentHash (CHUNK_HASH otherwise), as a device checks it. */
export function applyOnto(manifest: DatasetManifest, delta: DatasetDelta, base: DatasetContent): DatasetContent {
  const content = applyDelta(base, delta);
  if (Buffer.compare(contentHash(content), manifest.contentHash) !== 0) {
    throw new ProtocolError('CHUNK_HASH', 'content hash after applying the delta does not match the manifest');
  }
  return content;
}
