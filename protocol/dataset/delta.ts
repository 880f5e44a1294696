// Differences between two dataset versions. Every section is keyed (restricted/knownGood/history
// by token, binRules by prefix, prompts by (code, lang), routes by (brand, currency, region, band,
// gateway); gateway health and floor limits are replaced whole);
// a delta removes keys and upserts whole entries (a card's history is replaced whole, which keeps
// the delta format independent of how history is appended).
import { KEYED, compareBytes, normalizeContent, tokenKey } from './codec.ts';
import { encodeFuseFilter } from './fuse-filter.ts';
import type { DatasetContent, DatasetDelta, FuseFilter, HistoryEntry, HistoryEvent, Route, RouteKey } from './types.ts';

function sameFilter(a: FuseFilter, b: FuseFilter): boolean {
  return Buffer.compare(encodeFuseFilter(a), encodeFuseFilter(b)) === 0;
}

export function sameEvents(a: HistoryEvent[], b: HistoryEvent[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (
      x.at !== y.at || x.amount !== y.amount || x.currency !== y.currency || x.status !== y.status ||
      x.code !== y.code || x.type !== y.type || x.advice !== y.advice || x.gateway !== y.gateway || x.crossBorder !== y.crossBorder
    ) return false;
  }
  return true;
}
const sameHistory = (a: HistoryEntry, b: HistoryEntry) => a.brand === b.brand && sameEvents(a.events, b.events);

function diffSection<T, K>(a: T[], b: T[], key: (x: T) => string, same: (x: T, y: T) => boolean, removeKey: (x: T) => K): { remove: K[]; upsert: T[] } {
  const before = new Map<string, T>();
  for (const x of a) before.set(key(x), x);
  const upsert: T[] = [];
  for (const y of b) {
    const k = key(y);
    const x = before.get(k);
    if (x === undefined || !same(x, y)) upsert.push(y);
    before.delete(k);
  }
  return { remove: [...before.values()].map(removeKey), upsert };
}

const joinKey = (parts: string[]) => JSON.stringify(parts);

function routeKeyOf(r: Route): RouteKey {
  const k: RouteKey = { brand: r.brand, currency: r.currency, gateway: r.gateway };
  if (r.region !== undefined) k.region = r.region;
  if (r.band !== undefined) k.band = r.band;
  return k;
}

/** The delta that turns `a` into `b`. Both are validated and normalised first. */
export function diffContent(a: DatasetContent, b: DatasetContent): DatasetDelta {
  const x = normalizeContent(a);
  const y = normalizeContent(b);
  const d: DatasetDelta = {
    restricted: diffSection(x.restricted, y.restricted, (r) => tokenKey(r.token), (p, q) => p.reason === q.reason, (r) => r.token),
    knownGood: diffSection(x.knownGood, y.knownGood, (r) => tokenKey(r.token), () => true, (r) => r.token),
    history: diffSection(x.history, y.history, (r) => tokenKey(r.token), sameHistory, (r) => r.token),
    binRules: diffSection(x.binRules, y.binRules, (r) => r.prefix, (p, q) => p.action === q.action && p.reason === q.reason, (r) => r.prefix),
    prompts: diffSection(x.prompts, y.prompts, (r) => joinKey(KEYED.PROMPT.key(r)), (p, q) => p.message === q.message, (r) => ({ code: r.code, lang: r.lang })),
    routes: diffSection(
      x.routes,
      y.routes,
      (r) => joinKey(KEYED.ROUTE.key(r)),
      (p, q) => Object.is(p.successRate, q.successRate) && p.rank === q.rank,
      (r) => routeKeyOf(r),
    ),
  };
  if (JSON.stringify(x.gatewayHealth ?? []) !== JSON.stringify(y.gatewayHealth ?? [])) d.gatewayHealth = y.gatewayHealth ?? [];
  // Floor limits are a few hundred entries at most: replaced whole, or removed (null).
  if (JSON.stringify(x.floorLimits ?? null) !== JSON.stringify(y.floorLimits ?? null)) d.floorLimits = y.floorLimits ?? null;
  if (y.restrictedFilter === undefined) {
    if (x.restrictedFilter !== undefined) d.restrictedFilter = null;
  } else if (x.restrictedFilter === undefined || !sameFilter(x.restrictedFilter, y.restrictedFilter)) {
    d.restrictedFilter = y.restrictedFilter;
  }
  return d;
}

export function isEmptyDelta(d: DatasetDelta): boolean {
  const sections = [d.restricted, d.knownGood, d.history, d.binRules, d.prompts, d.routes] as { remove: unknown[]; upsert: unknown[] }[];
  return d.restrictedFilter === undefined && d.gatewayHealth === undefined && d.floorLimits === undefined && sections.every((s) => s.remove.length === 0 && s.upsert.length === 0);
}

export { compareBytes };
