// Canonical CBOR encoding of dataset content and deltas.
//
// Content is a CBOR map with small integer keys (insertion order = ascending key order):
//   0: format (1)
//   1: restricted  [[reason, tokens], ...]   grouped by reason, groups sorted by reason (UTF-8
//                  bytes); tokens = ONE byte string of concatenated 16-byte tokens, ascending.
//                  10^6 cards cost 16 MB + a few bytes, not 10^6 CBOR maps.
//   2: knownGood   tokens (one packed byte string, ascending)
//   3: history     [[token, brand|null, [event...]], ...] ascending by token; events oldest
//                  first: [at, amount, currency, status(0 success,1 failure), code|null,
//                  type(0 hard,1 soft,2 technical,3 fraud)|null, advice|null, gateway|null,
//                  crossBorder|null]
//   4: binRules    [[prefix, action(0 decline,1 review), reason], ...] ascending by prefix
//   5: prompts     [[code, lang, message], ...] ascending by (code, lang)
//   6: routes      format 1: [[brand, currency, gateway, successRate], ...] ascending by
//                  (brand, currency, gateway); format 2: [[brand, currency, region|null,
//                  band|null, gateway, successRate, rank|null], ...] ascending by (brand,
//                  currency, region, band, gateway), null (= any) first
//   7: restrictedFilter (optional) {1: seed, 2: segmentLength, 3: segmentCount, 4: fingerprints}
//   8: gatewayHealth (format 2, optional, never empty) [[gateway, eliminatedUntil], ...] ascending
//   9: floorLimits (format 3, optional) [maxApprovals, windowSeconds, [[brand, currency, region,
//                  limit], ...]] limits ascending by (brand, currency, region), never empty, limit >= 1
// Format: 1 unless the content needs 2 (a route with a region, band or rank, or gateway health) or
// 3 (floor limits; routes as in format 2): content that an older format can say is encoded exactly
// as before, so its hashes do not change and a device on older firmware keeps taking it; content
// that needs a newer format is refused by such a device with UNSUPPORTED ("unsupported format")
// instead of being misread. Decoders take all three.
// Canonical = this order, no duplicates, shortest integer forms (cbor-x default), float64 for
// non-integral numbers. contentHash = SHA-256 of these bytes. Decoding checks every type, length
// and the canonical order, so a decoded dataset re-encodes to the same bytes.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';
import { decodeDatasetCbor, encodeCbor } from '../cbor.ts';
import { TOKEN_BYTES, compareTokensAt } from './token.ts';
import { checkFuseFilter, fuseFilterFromCbor, fuseFilterToCbor, type FuseFilter } from './fuse-filter.ts';
import type {
  BinRule,
  DatasetContent,
  FloorLimit,
  FloorLimits,
  DatasetDelta,
  GatewayHealth,
  HistoryEntry,
  HistoryEvent,
  Prompt,
  PromptKey,
  RestrictedEntry,
  Route,
  RouteKey,
} from './types.ts';
import { FAILURE_TYPES } from './types.ts';
import {
  LIMITS,
  checkBinRule,
  checkFloorBudget,
  checkFloorLimit,
  checkHealth,
  checkHistoryEntry,
  checkPrompt,
  checkRoute,
  checkString,
  checkToken,
  fail,
} from './validate.ts';

/** The newest content/delta format this code writes (only when needed) and reads. */
export const CONTENT_FORMAT = 3;
export const CONTENT_FORMATS: readonly number[] = [1, 2, 3];
/** Largest encoded snapshot/delta a decoder accepts (10^7 restricted cards fit). */
export const MAX_PAYLOAD_BYTES = 256 * 1024 * 1024;
const CBOR_LIMITS = { maxBytes: MAX_PAYLOAD_BYTES, maxDepth: 8 };

// ---------------------------------------------------------------- ordering helpers

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const SURROGATE = /[\uD800-\uDFFF]/;
/** UTF-8 byte order. Without surrogates, UTF-16 code units are code points, whose order is UTF-8's:
 * then no Buffers (sorting a few hundred routes per build and per device sync made two per compare). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(utf8(a), utf8(b));
}
function compareTuple(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareStrings(a[i], b[i]);
    if (c !== 0) return c;
  }
  return 0;
}

/** Token as a latin1 string: one char per byte, so JS string order = byte order and it can key a Map. */
export function tokenKey(t: Uint8Array): string {
  return Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('latin1');
}

/** Byte order of tokens i and j inside one packed buffer (16 bytes each). */
const cmpPacked = (buf: Uint8Array, i: number, j: number): number => compareTokensAt(buf, i, buf, j);

/**
 * Sort the tokens of a packed buffer. Hand-written because a comparator sort over 10^6 token
 * objects takes seconds: a counting sort on the first two bytes puts random tokens in buckets of
 * ~n/65536, each finished by insertion sort (or Array.sort for a large, adversarial bucket).
 */
export function sortPacked(buf: Uint8Array): Uint8Array {
  const n = buf.length / TOKEN_BYTES;
  const order = sortPackedOrder(buf);
  const out = new Uint8Array(buf.length);
  for (let i = 0; i < n; i++) out.set(buf.subarray(order[i] * TOKEN_BYTES, (order[i] + 1) * TOKEN_BYTES), i * TOKEN_BYTES);
  return out;
}

/** The permutation that sorts a packed buffer's tokens (order[i] = index of the i-th smallest). */
export function sortPackedOrder(buf: Uint8Array): Uint32Array {
  const n = buf.length / TOKEN_BYTES;
  // Small inputs (most deltas, every fuzzed dataset): the 65 536 buckets would cost more than the
  // sort, about 0.3 ms per call — a plain comparator sort is cheaper below a few thousand tokens.
  if (n < 2048) return Uint32Array.from(Array.from({ length: n }, (_, i) => i).sort((x, y) => cmpPacked(buf, x, y)));
  const count = new Uint32Array(65537);
  for (let i = 0; i < n; i++) count[((buf[i * TOKEN_BYTES] << 8) | buf[i * TOKEN_BYTES + 1]) + 1]++;
  for (let k = 1; k <= 65536; k++) count[k] += count[k - 1];
  const order = new Uint32Array(n);
  const fill = count.slice(0, 65536);
  for (let i = 0; i < n; i++) order[fill[(buf[i * TOKEN_BYTES] << 8) | buf[i * TOKEN_BYTES + 1]]++] = i;
  for (let k = 0; k < 65536; k++) {
    const lo = count[k];
    const hi = count[k + 1];
    if (hi - lo < 2) continue;
    if (hi - lo > 32) {
      const part = Array.from(order.subarray(lo, hi)).sort((x, y) => cmpPacked(buf, x, y));
      order.set(part, lo);
      continue;
    }
    for (let i = lo + 1; i < hi; i++) {
      const v = order[i];
      let j = i - 1;
      while (j >= lo && cmpPacked(buf, order[j], v) > 0) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = v;
    }
  }
  return order;
}

/** Index of the first token equal to its predecessor in a sorted packed buffer, or -1. */
function firstDuplicate(sorted: Uint8Array): number {
  const n = sorted.length / TOKEN_BYTES;
  for (let i = 1; i < n; i++) if (cmpPacked(sorted, i - 1, i) === 0) return i;
  return -1;
}

/** Sort and pack tokens into one byte string (strictly ascending; duplicates are an error). */
export function packTokens(tokens: Uint8Array[], field: string): Uint8Array {
  const buf = new Uint8Array(tokens.length * TOKEN_BYTES);
  for (let i = 0; i < tokens.length; i++) buf.set(checkToken(tokens[i], `${field}[${i}]`), i * TOKEN_BYTES);
  const sorted = sortPacked(buf);
  if (firstDuplicate(sorted) >= 0) fail(field, 'duplicate token');
  return sorted;
}

/** Duplicate check across several individually valid packed buffers. */
export function checkDisjoint(packs: Uint8Array[], field: string): void {
  if (packs.length < 2) return;
  const all = new Uint8Array(packs.reduce((a, p) => a + p.length, 0));
  let pos = 0;
  for (const p of packs) {
    all.set(p, pos);
    pos += p.length;
  }
  if (firstDuplicate(sortPacked(all)) >= 0) fail(field, 'duplicate token');
}

/** Split a packed, strictly ascending token string into 16-byte views (one shared copy). */
export function unpackTokens(v: unknown, field: string): Uint8Array[] {
  if (!(v instanceof Uint8Array) || v.length % TOKEN_BYTES !== 0) fail(field, `packed ${TOKEN_BYTES}-byte tokens expected`);
  const copy = new Uint8Array(v);
  const n = copy.length / TOKEN_BYTES;
  const out = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) {
    if (i > 0 && cmpPacked(copy, i - 1, i) >= 0) fail(field, 'tokens not strictly ascending');
    out[i] = copy.subarray(i * TOKEN_BYTES, (i + 1) * TOKEN_BYTES);
  }
  return out;
}

/** A copy of a packed, strictly ascending token string, checked like unpackTokens but without a view per token. */
export function checkPackedAscending(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length % TOKEN_BYTES !== 0) fail(field, `packed ${TOKEN_BYTES}-byte tokens expected`);
  const copy = new Uint8Array(v);
  const n = copy.length / TOKEN_BYTES;
  for (let i = 1; i < n; i++) if (cmpPacked(copy, i - 1, i) >= 0) fail(field, 'tokens not strictly ascending');
  return copy;
}

// ---------------------------------------------------------------- events

function eventToArray(e: HistoryEvent): unknown[] {
  return [
    e.at,
    e.amount,
    e.currency,
    e.status === 'success' ? 0 : 1,
    e.code ?? null,
    e.type === undefined ? null : FAILURE_TYPES.indexOf(e.type),
    e.advice ?? null,
    e.gateway ?? null,
    e.crossBorder ?? null,
  ];
}

function eventFromArray(a: unknown, field: string): HistoryEvent {
  if (!Array.isArray(a) || a.length !== 9) fail(field, 'event array of 9 expected');
  const [at, amount, currency, status, code, type, advice, gateway, crossBorder] = a;
  if (status !== 0 && status !== 1) fail(`${field}.status`, '0|1 expected');
  if (type !== null && !(typeof type === 'number' && Number.isInteger(type) && type >= 0 && type < FAILURE_TYPES.length)) {
    fail(`${field}.type`, 'failure type index expected');
  }
  const obj: Record<string, unknown> = { at, amount, currency, status: status === 0 ? 'success' : 'failure' };
  if (code !== null) obj.code = code;
  if (type !== null) obj.type = FAILURE_TYPES[type as number];
  if (advice !== null) obj.advice = advice;
  if (gateway !== null) obj.gateway = gateway;
  if (crossBorder !== null) obj.crossBorder = crossBorder;
  // checkHistoryEntry validates the fields; here only the array shape
  return obj as unknown as HistoryEvent;
}

function compareEvents(a: HistoryEvent, b: HistoryEvent): number {
  if (a.at !== b.at) return a.at - b.at;
  return compareStrings(JSON.stringify(eventToArray(a)), JSON.stringify(eventToArray(b)));
}

// ---------------------------------------------------------------- section normalisers

function copyToken(t: Uint8Array): Uint8Array {
  return new Uint8Array(t);
}

export function normRestricted(list: RestrictedEntry[], field: string): Map<string, Uint8Array[]> {
  if (!Array.isArray(list) || list.length > LIMITS.entriesPerSection) fail(field, 'array expected');
  const groups = new Map<string, Uint8Array[]>();
  list.forEach((r, i) => {
    if (typeof r !== 'object' || r === null) fail(`${field}[${i}]`, 'object expected');
    const reason = checkString(r.reason, `${field}[${i}].reason`, LIMITS.reason);
    const token = checkToken(r.token, `${field}[${i}].token`);
    let g = groups.get(reason);
    if (!g) groups.set(reason, (g = []));
    g.push(token);
  });
  return groups;
}

function restrictedToCbor(list: RestrictedEntry[], field: string): unknown[] {
  const groups = normRestricted(list, field);
  const reasons = [...groups.keys()].sort(compareStrings);
  const packed = reasons.map((reason) => [reason, packTokens(groups.get(reason)!, field)] as [string, Uint8Array]);
  checkDisjoint(packed.map((p) => p[1]), field); // a token in two reason groups
  return packed;
}

function restrictedFromCbor(v: unknown, field: string): RestrictedEntry[] {
  if (!Array.isArray(v)) fail(field, 'array expected');
  const out: RestrictedEntry[] = [];
  const packs: Uint8Array[] = [];
  let prev: string | null = null;
  for (let i = 0; i < v.length; i++) {
    const g = v[i];
    if (!Array.isArray(g) || g.length !== 2) fail(`${field}[${i}]`, '[reason, tokens] expected');
    const reason = checkString(g[0], `${field}[${i}].reason`, LIMITS.reason);
    if (prev !== null && compareStrings(prev, reason) >= 0) fail(field, 'reason groups not strictly ascending');
    prev = reason;
    for (const token of unpackTokens(g[1], `${field}[${i}].tokens`)) out.push({ token, reason });
    packs.push(g[1] as Uint8Array);
  }
  checkDisjoint(packs, field);
  return out;
}

/** One history entry validated and copied, its events in canonical order. */
export function normHistoryEntry(h: HistoryEntry, field: string): HistoryEntry {
  const e = checkHistoryEntry(h, field);
  const n: HistoryEntry = { token: copyToken(e.token), events: e.events.slice().sort(compareEvents) };
  if (e.brand !== undefined) n.brand = e.brand;
  return n;
}

/** The bytes one normalised entry has inside a content's history array (cbor-x writes array items context-free). */
export function historyEntryBytes(h: HistoryEntry): Uint8Array {
  return encodeCbor([h.token, h.brand ?? null, h.events.map(eventToArray)]);
}

function normHistory(list: HistoryEntry[], field: string): HistoryEntry[] {
  if (!Array.isArray(list) || list.length > LIMITS.entriesPerSection) fail(field, 'array expected');
  const out = list.map((h, i) => normHistoryEntry(h, `${field}[${i}]`));
  out.sort((a, b) => compareBytes(a.token, b.token));
  for (let i = 1; i < out.length; i++) if (compareBytes(out[i - 1].token, out[i].token) === 0) fail(field, 'duplicate token');
  return out;
}

function historyToCbor(list: HistoryEntry[]): unknown[] {
  return list.map((h) => [h.token, h.brand ?? null, h.events.map(eventToArray)]);
}

function historyFromCbor(v: unknown, field: string): HistoryEntry[] {
  if (!Array.isArray(v)) fail(field, 'array expected');
  const out = v.map((a, i) => {
    const f = `${field}[${i}]`;
    if (!Array.isArray(a) || a.length !== 3) fail(f, '[token, brand, events] expected');
    if (!Array.isArray(a[2])) fail(`${f}.events`, 'array expected');
    const raw: Record<string, unknown> = {
      token: a[0] instanceof Uint8Array ? new Uint8Array(a[0]) : a[0],
      events: a[2].map((e: unknown, j: number) => eventFromArray(e, `${f}.events[${j}]`)),
    };
    if (a[1] !== null) raw.brand = a[1];
    const h = checkHistoryEntry(raw, f);
    for (let j = 1; j < h.events.length; j++) {
      if (compareEvents(h.events[j - 1], h.events[j]) > 0) fail(`${f}.events`, 'events not in canonical order');
    }
    return h;
  });
  for (let i = 1; i < out.length; i++) if (compareBytes(out[i - 1].token, out[i].token) >= 0) fail(field, 'history not strictly ascending by token');
  return out;
}

interface Keyed<T> {
  key: (x: T) => string[];
  check: (x: unknown, field: string) => T;
  toCbor: (x: T) => unknown[];
  fromCbor: (a: unknown[], field: string) => unknown;
  width: number;
}

const BIN: Keyed<BinRule> = {
  key: (r) => [r.prefix],
  check: checkBinRule,
  toCbor: (r) => [r.prefix, r.action === 'decline' ? 0 : 1, r.reason],
  fromCbor: (a, f) => ({ prefix: a[0], action: a[1] === 0 ? 'decline' : a[1] === 1 ? 'review' : fail(`${f}.action`, '0|1 expected'), reason: a[2] }),
  width: 3,
};
const PROMPT: Keyed<Prompt> = {
  key: (p) => [p.code, p.lang],
  check: checkPrompt,
  toCbor: (p) => [p.code, p.lang, p.message],
  fromCbor: (a) => ({ code: a[0], lang: a[1], message: a[2] }),
  width: 3,
};
// Routes sort by (brand, currency, region, band, gateway) with "any" ('') first, so format-1
// routes (no region or band) keep exactly their format-1 order.
const routeKey = (r: { brand: string; currency: string; region?: string; band?: string; gateway: string }) => [r.brand, r.currency, r.region ?? '', r.band ?? '', r.gateway];
const ROUTE: Keyed<Route> = {
  key: routeKey,
  check: checkRoute,
  toCbor: (r) => [r.brand, r.currency, r.gateway, r.successRate],
  fromCbor: (a) => ({ brand: a[0], currency: a[1], gateway: a[2], successRate: a[3] }),
  width: 4,
};
const ROUTE2: Keyed<Route> = {
  key: routeKey,
  check: checkRoute,
  toCbor: (r) => [r.brand, r.currency, r.region ?? null, r.band ?? null, r.gateway, r.successRate, r.rank ?? null],
  fromCbor: (a) => {
    const o: Record<string, unknown> = { brand: a[0], currency: a[1], gateway: a[4], successRate: a[5] };
    if (a[2] !== null) o.region = a[2];
    if (a[3] !== null) o.band = a[3];
    if (a[6] !== null) o.rank = a[6];
    return o;
  },
  width: 7,
};
const HEALTH: Keyed<GatewayHealth> = {
  key: (h) => [h.gateway],
  check: checkHealth,
  toCbor: (h) => [h.gateway, h.eliminatedUntil],
  fromCbor: (a) => ({ gateway: a[0], eliminatedUntil: a[1] }),
  width: 2,
};
const FLOOR: Keyed<FloorLimit> = {
  key: (f) => [f.brand, f.currency, f.region],
  check: checkFloorLimit,
  toCbor: (f) => [f.brand, f.currency, f.region, f.limit],
  fromCbor: (a) => ({ brand: a[0], currency: a[1], region: a[2], limit: a[3] }),
  width: 4,
};
const routesKeyed = (format: number) => (format === 1 ? ROUTE : ROUTE2);

const isV2Route = (r: { region?: unknown; band?: unknown; rank?: unknown } | null | undefined) => !!r && (r.region !== undefined || r.band !== undefined || r.rank !== undefined);

/** The lowest format that can carry these routes, this health section and (3) floor limits (null: a delta removing them). */
function formatFor(routes: readonly unknown[], health: readonly unknown[] | undefined, routeKeys: readonly unknown[] = [], floor: FloorLimits | null | undefined = undefined): 1 | 2 | 3 {
  if (floor !== undefined) return 3;
  const v2 = health !== undefined || routes.some((r) => isV2Route(r as Route)) || routeKeys.some((k) => isV2Route(k as Route));
  return v2 ? 2 : 1;
}

/** Floor limits as content holds them: validated, limits in canonical order; absent when there are none. */
function normFloor(f: FloorLimits | undefined, field: string): FloorLimits | undefined {
  if (f === undefined) return undefined;
  if (typeof f !== 'object' || f === null) fail(field, 'object expected');
  const budget = checkFloorBudget(f.maxApprovals, f.windowSeconds, field);
  if (!Array.isArray(f.limits) || f.limits.length > LIMITS.floorSegments) fail(`${field}.limits`, `array of at most ${LIMITS.floorSegments} expected`);
  const limits = normKeyed(f.limits, `${field}.limits`, FLOOR);
  return limits.length > 0 ? { ...budget, limits } : undefined;
}

function floorToCbor(f: FloorLimits): unknown[] {
  return [f.maxApprovals, f.windowSeconds, f.limits.map(FLOOR.toCbor)];
}

function floorFromCbor(v: unknown, field: string): FloorLimits {
  if (!Array.isArray(v) || v.length !== 3) fail(field, '[maxApprovals, windowSeconds, limits] expected');
  const budget = checkFloorBudget(v[0], v[1], field);
  if (!Array.isArray(v[2]) || v[2].length === 0 || v[2].length > LIMITS.floorSegments) fail(`${field}.limits`, `1..${LIMITS.floorSegments} entries expected`);
  return { ...budget, limits: keyedFromCbor(v[2], `${field}.limits`, FLOOR) };
}

/** Health as content holds it: absent when empty. */
function normHealth(h: GatewayHealth[] | undefined, field: string): GatewayHealth[] | undefined {
  if (h === undefined) return undefined;
  if (!Array.isArray(h) || h.length > LIMITS.gateways) fail(field, `array of at most ${LIMITS.gateways} expected`);
  const out = normKeyed(h, field, HEALTH);
  return out.length > 0 ? out : undefined;
}

function normKeyed<T>(list: T[], field: string, k: Keyed<T>): T[] {
  if (!Array.isArray(list) || list.length > LIMITS.smallSection) fail(field, `array of at most ${LIMITS.smallSection} expected`);
  const out = list.map((x, i) => k.check(x, `${field}[${i}]`));
  out.sort((a, b) => compareTuple(k.key(a), k.key(b)));
  for (let i = 1; i < out.length; i++) if (compareTuple(k.key(out[i - 1]), k.key(out[i])) === 0) fail(field, 'duplicate key');
  return out;
}

function keyedFromCbor<T>(v: unknown, field: string, k: Keyed<T>): T[] {
  if (!Array.isArray(v) || v.length > LIMITS.smallSection) fail(field, 'array expected');
  const out = v.map((a, i) => {
    if (!Array.isArray(a) || a.length !== k.width) fail(`${field}[${i}]`, `array of ${k.width} expected`);
    return k.check(k.fromCbor(a, `${field}[${i}]`), `${field}[${i}]`);
  });
  for (let i = 1; i < out.length; i++) if (compareTuple(k.key(out[i - 1]), k.key(out[i])) >= 0) fail(field, 'entries not strictly ascending');
  return out;
}

// ---------------------------------------------------------------- content

/** Validated deep copy in canonical order (what decodeContent(encodeContent(c)) returns). */
export function normalizeContent(c: DatasetContent): DatasetContent {
  if (typeof c !== 'object' || c === null) fail('content', 'object expected');
  const groups = normRestricted(c.restricted, 'restricted');
  const reasons = [...groups.keys()].sort(compareStrings);
  const restricted: RestrictedEntry[] = [];
  const packs: Uint8Array[] = [];
  for (const reason of reasons) {
    const packed = packTokens(groups.get(reason)!, 'restricted');
    packs.push(packed);
    for (let i = 0; i < packed.length; i += TOKEN_BYTES) restricted.push({ token: packed.subarray(i, i + TOKEN_BYTES), reason });
  }
  checkDisjoint(packs, 'restricted');
  if (!Array.isArray(c.knownGood)) fail('knownGood', 'array expected');
  const kg = packTokens(c.knownGood.map((k, i) => checkToken(k?.token, `knownGood[${i}].token`)), 'knownGood');
  const knownGood = [];
  for (let i = 0; i < kg.length; i += TOKEN_BYTES) knownGood.push({ token: kg.subarray(i, i + TOKEN_BYTES) });
  const out: DatasetContent = {
    restricted,
    knownGood,
    history: normHistory(c.history, 'history'),
    binRules: normKeyed(c.binRules, 'binRules', BIN),
    prompts: normKeyed(c.prompts, 'prompts', PROMPT),
    routes: normKeyed(c.routes, 'routes', ROUTE),
  };
  if (c.restrictedFilter !== undefined) out.restrictedFilter = copyFilter(c.restrictedFilter, 'restrictedFilter');
  const health = normHealth(c.gatewayHealth, 'gatewayHealth');
  if (health) out.gatewayHealth = health;
  const floor = normFloor(c.floorLimits, 'floorLimits');
  if (floor) out.floorLimits = floor;
  return out;
}

function copyFilter(f: FuseFilter, field: string): FuseFilter {
  const c = checkFuseFilter(f, field);
  return { ...c, fingerprints: new Uint8Array(c.fingerprints) };
}

export function encodeContent(c: DatasetContent): Uint8Array {
  if (typeof c !== 'object' || c === null) fail('content', 'object expected');
  if (!Array.isArray(c.knownGood)) fail('knownGood', 'array expected');
  if (!Array.isArray(c.routes)) fail('routes', 'array expected');
  const health = normHealth(c.gatewayHealth, 'gatewayHealth');
  const floor = normFloor(c.floorLimits, 'floorLimits');
  const format = formatFor(c.routes, health, [], floor);
  const R = routesKeyed(format);
  const m = new Map<number, unknown>([
    [0, format],
    [1, restrictedToCbor(c.restricted, 'restricted')],
    [2, packTokens(c.knownGood.map((k, i) => checkToken(k?.token, `knownGood[${i}].token`)), 'knownGood')],
    [3, historyToCbor(normHistory(c.history, 'history'))],
    [4, normKeyed(c.binRules, 'binRules', BIN).map(BIN.toCbor)],
    [5, normKeyed(c.prompts, 'prompts', PROMPT).map(PROMPT.toCbor)],
    [6, normKeyed(c.routes, 'routes', R).map(R.toCbor)],
  ]);
  if (c.restrictedFilter !== undefined) m.set(7, fuseFilterToCbor(checkFuseFilter(c.restrictedFilter, 'restrictedFilter')));
  if (health) m.set(8, health.map(HEALTH.toCbor));
  if (floor) m.set(9, floorToCbor(floor));
  return encodeCbor(m);
}

/** The top-level map and its format: keys 1..keys required, keys+1..maxKey[format] optional. */
function topMap(bytes: Uint8Array, what: string, keys: number, maxKey: Record<number, number>): { m: Map<unknown, unknown>; format: number } {
  const v = decodeDatasetCbor(bytes, CBOR_LIMITS);
  if (!(v instanceof Map)) throw new ProtocolError('MALFORMED', `${what}: CBOR map expected`);
  const format = v.get(0);
  if (typeof format !== 'number' || !CONTENT_FORMATS.includes(format)) {
    throw new ProtocolError('UNSUPPORTED', `${what}: unsupported format ${String(format)} (this build reads formats ${CONTENT_FORMATS.join(', ')}; update the firmware)`);
  }
  const v2 = topKeys(v, what, keys, maxKey[format]);
  return { m: v2, format };
}

function topKeys(v: Map<unknown, unknown>, what: string, keys: number, maxKey: number): Map<unknown, unknown> {
  for (const k of v.keys()) {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > maxKey) throw new ProtocolError('INVALID_FIELD', `${what}: unknown key`, String(k));
  }
  for (let k = 1; k <= keys; k++) if (!v.has(k)) throw new ProtocolError('INVALID_FIELD', `${what}: missing key ${k}`, String(k));
  return v;
}

export function decodeContent(bytes: Uint8Array): DatasetContent {
  const { m, format } = topMap(bytes, 'content', 6, { 1: 7, 2: 8, 3: 9 });
  return withOtherSections(m, format, restrictedFromCbor(m.get(1), 'restricted'), unpackTokens(m.get(2), 'knownGood').map((token) => ({ token })));
}

/** A content from its token lists and the other sections of its top map (keys 3..8), checked. */
function withOtherSections(m: Map<unknown, unknown>, format: number, restricted: DatasetContent['restricted'], knownGood: DatasetContent['knownGood']): DatasetContent {
  const out: DatasetContent = {
    restricted,
    knownGood,
    history: historyFromCbor(m.get(3), 'history'),
    binRules: keyedFromCbor(m.get(4), 'binRules', BIN),
    prompts: keyedFromCbor(m.get(5), 'prompts', PROMPT),
    routes: keyedFromCbor(m.get(6), 'routes', routesKeyed(format)),
  };
  if (m.has(7)) out.restrictedFilter = fuseFilterFromCbor(m.get(7), 'restrictedFilter');
  if (m.has(8)) {
    const health = keyedFromCbor(m.get(8), 'gatewayHealth', HEALTH);
    if (health.length === 0 || health.length > LIMITS.gateways) fail('gatewayHealth', `1..${LIMITS.gateways} entries expected`);
    out.gatewayHealth = health;
  }
  if (m.has(9)) out.floorLimits = floorFromCbor(m.get(9), 'floorLimits');
  // Canonical: a newer format only for content an older one cannot carry (so it re-encodes to these bytes).
  const want = formatFor(out.routes, out.gatewayHealth, [], out.floorLimits);
  if (format !== want) fail('format', `format ${format} for content of format ${want}`);
  return out;
}

/**
 * decodeContent for big datasets: the same checks, but the token sections stay packed (one byte
 * string per reason group, one for knownGood) instead of one object per card, and the other
 * sections come back as a content whose restricted and knownGood are empty.
 */
export function decodeContentPacked(bytes: Uint8Array): { restricted: { reason: string; packed: Uint8Array }[]; knownGood: Uint8Array; rest: DatasetContent } {
  const { m, format } = topMap(bytes, 'content', 6, { 1: 7, 2: 8, 3: 9 });
  const g = m.get(1);
  if (!Array.isArray(g)) fail('restricted', 'array expected');
  const restricted: { reason: string; packed: Uint8Array }[] = [];
  let prev: string | null = null;
  for (let i = 0; i < g.length; i++) {
    const x = g[i];
    if (!Array.isArray(x) || x.length !== 2) fail(`restricted[${i}]`, '[reason, tokens] expected');
    const reason = checkString(x[0], `restricted[${i}].reason`, LIMITS.reason);
    if (prev !== null && compareStrings(prev, reason) >= 0) fail('restricted', 'reason groups not strictly ascending');
    prev = reason;
    restricted.push({ reason, packed: checkPackedAscending(x[1], `restricted[${i}].tokens`) });
  }
  checkDisjoint(restricted.map((r) => r.packed), 'restricted');
  const knownGood = checkPackedAscending(m.get(2), 'knownGood');
  return { restricted, knownGood, rest: withOtherSections(m, format, [], []) };
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(crypto.createHash('sha256').update(data).digest());
}

export function contentHash(c: DatasetContent): Uint8Array {
  return sha256(encodeContent(c));
}

// ---------------------------------------------------------------- delta
//
// Delta: CBOR map {0: format, 1: restricted.remove (packed tokens), 2: restricted.upsert
// (reason groups as in content), 3: knownGood.remove, 4: knownGood.upsert (packed),
// 5: history.remove (packed), 6: history.upsert (as content), 7: binRules.remove [prefix...],
// 8: binRules.upsert, 9: prompts.remove [[code, lang]...], 10: prompts.upsert,
// 11: routes.remove [[brand, currency, gateway]...] (format 2: [[brand, currency, region|null,
// band|null, gateway]...]), 12: routes.upsert, 13 (optional): restrictedFilter — null = remove, a
// filter map = replace, absent = unchanged, 14 (optional, format 2): gatewayHealth — the whole new
// section (possibly empty), absent = unchanged, 15 (optional, format 3): floorLimits — null =
// remove, a section (as content key 9) = replace, absent = unchanged}. Sorted like content; format
// chosen like content's.

const STRING_KEYS = (width: number, field: string) => (v: unknown): string[][] => {
  if (!Array.isArray(v) || v.length > LIMITS.smallSection) fail(field, 'array expected');
  return v.map((a, i) => {
    const arr = width === 1 ? [a] : a;
    if (!Array.isArray(arr) || arr.length !== width) fail(`${field}[${i}]`, `key of ${width} strings expected`);
    return arr.map((s: unknown, j: number) => checkString(s, `${field}[${i}][${j}]`, 1024));
  });
};

function sortedKeys(keys: string[][], field: string): string[][] {
  const out = keys.slice().sort(compareTuple);
  for (let i = 1; i < out.length; i++) if (compareTuple(out[i - 1], out[i]) === 0) fail(field, 'duplicate key');
  return out;
}

function checkSection(d: unknown, field: string): { remove: unknown[]; upsert: unknown[] } {
  const s = d as { remove?: unknown; upsert?: unknown } | null;
  if (typeof s !== 'object' || s === null || !Array.isArray(s.remove) || !Array.isArray(s.upsert)) fail(field, '{remove, upsert} expected');
  return s as { remove: unknown[]; upsert: unknown[] };
}

export function emptyDelta(): DatasetDelta {
  return {
    restricted: { remove: [], upsert: [] },
    knownGood: { remove: [], upsert: [] },
    history: { remove: [], upsert: [] },
    binRules: { remove: [], upsert: [] },
    prompts: { remove: [], upsert: [] },
    routes: { remove: [], upsert: [] },
  };
}

export function encodeDelta(d: DatasetDelta): Uint8Array {
  if (typeof d !== 'object' || d === null) fail('delta', 'object expected');
  const r = checkSection(d.restricted, 'restricted');
  const k = checkSection(d.knownGood, 'knownGood');
  const h = checkSection(d.history, 'history');
  const b = checkSection(d.binRules, 'binRules');
  const p = checkSection(d.prompts, 'prompts');
  const ro = checkSection(d.routes, 'routes');
  if (d.gatewayHealth !== undefined && (!Array.isArray(d.gatewayHealth) || d.gatewayHealth.length > LIMITS.gateways)) fail('gatewayHealth', 'array expected');
  const health = d.gatewayHealth === undefined ? undefined : normKeyed(d.gatewayHealth, 'gatewayHealth', HEALTH);
  let floor: FloorLimits | null | undefined;
  if (d.floorLimits === null) floor = null;
  else if (d.floorLimits !== undefined) {
    floor = normFloor(d.floorLimits, 'floorLimits');
    if (floor === undefined) fail('floorLimits', 'a section without limits is sent as null (removed)');
  }
  const format = formatFor(ro.upsert, health, ro.remove, floor);
  const R = routesKeyed(format);
  const routeRemove =
    format === 1
      ? sortedKeys(STRING_KEYS(3, 'routes.remove')((ro.remove as RouteKey[]).map((x) => [x?.brand, x?.currency, x?.gateway])), 'routes.remove')
      : sortedRouteKeys(ro.remove as RouteKey[]);
  const m = new Map<number, unknown>([
    [0, format],
    [1, packTokens(r.remove as Uint8Array[], 'restricted.remove')],
    [2, restrictedToCbor(r.upsert as RestrictedEntry[], 'restricted.upsert')],
    [3, packTokens(k.remove as Uint8Array[], 'knownGood.remove')],
    [4, packTokens((k.upsert as { token: Uint8Array }[]).map((x, i) => checkToken(x?.token, `knownGood.upsert[${i}].token`)), 'knownGood.upsert')],
    [5, packTokens(h.remove as Uint8Array[], 'history.remove')],
    [6, historyToCbor(normHistory(h.upsert as HistoryEntry[], 'history.upsert'))],
    [7, sortedKeys(STRING_KEYS(1, 'binRules.remove')(b.remove), 'binRules.remove').map((x) => x[0])],
    [8, normKeyed(b.upsert as BinRule[], 'binRules.upsert', BIN).map(BIN.toCbor)],
    [9, sortedKeys(STRING_KEYS(2, 'prompts.remove')((p.remove as PromptKey[]).map((x) => [x?.code, x?.lang])), 'prompts.remove')],
    [10, normKeyed(p.upsert as Prompt[], 'prompts.upsert', PROMPT).map(PROMPT.toCbor)],
    [11, routeRemove],
    [12, normKeyed(ro.upsert as Route[], 'routes.upsert', R).map(R.toCbor)],
  ]);
  if (d.restrictedFilter === null) m.set(13, null);
  else if (d.restrictedFilter !== undefined) m.set(13, fuseFilterToCbor(checkFuseFilter(d.restrictedFilter, 'restrictedFilter')));
  if (health !== undefined) m.set(14, health.map(HEALTH.toCbor));
  if (floor !== undefined) m.set(15, floor === null ? null : floorToCbor(floor));
  return encodeCbor(m);
}

/** Format-2 route keys: validated (as a route), sorted, encoded [brand, currency, region|null, band|null, gateway]. */
function sortedRouteKeys(keys: RouteKey[]): unknown[][] {
  if (!Array.isArray(keys) || keys.length > LIMITS.smallSection) fail('routes.remove', 'array expected');
  const checked = keys.map((k, i) => checkRoute({ ...(k as object), successRate: 0 }, `routes.remove[${i}]`));
  const sorted = checked.sort((a, b) => compareTuple(routeKey(a), routeKey(b)));
  for (let i = 1; i < sorted.length; i++) if (compareTuple(routeKey(sorted[i - 1]), routeKey(sorted[i])) === 0) fail('routes.remove', 'duplicate key');
  return sorted.map((r) => [r.brand, r.currency, r.region ?? null, r.band ?? null, r.gateway]);
}

function routeKeysFromCbor(v: unknown, field: string): RouteKey[] {
  if (!Array.isArray(v) || v.length > LIMITS.smallSection) fail(field, 'array expected');
  const out = v.map((a, i) => {
    if (!Array.isArray(a) || a.length !== 5) fail(`${field}[${i}]`, 'key of 5 expected');
    const o: Record<string, unknown> = { brand: a[0], currency: a[1], gateway: a[4], successRate: 0 };
    if (a[2] !== null) o.region = a[2];
    if (a[3] !== null) o.band = a[3];
    const r = checkRoute(o, `${field}[${i}]`);
    const k: RouteKey = { brand: r.brand, currency: r.currency, gateway: r.gateway };
    if (r.region !== undefined) k.region = r.region;
    if (r.band !== undefined) k.band = r.band;
    return k;
  });
  for (let i = 1; i < out.length; i++) if (compareTuple(routeKey(out[i - 1]), routeKey(out[i])) >= 0) fail(field, 'keys not strictly ascending');
  return out;
}

export function decodeDelta(bytes: Uint8Array): DatasetDelta {
  const { m, format } = topMap(bytes, 'delta', 12, { 1: 13, 2: 14, 3: 15 });
  const R = routesKeyed(format);
  const strictKeys = (v: unknown, width: number, field: string): string[][] => {
    const keys = STRING_KEYS(width, field)(v);
    for (let i = 1; i < keys.length; i++) if (compareTuple(keys[i - 1], keys[i]) >= 0) fail(field, 'keys not strictly ascending');
    return keys;
  };
  const out: DatasetDelta = {
    restricted: { remove: unpackTokens(m.get(1), 'restricted.remove'), upsert: restrictedFromCbor(m.get(2), 'restricted.upsert') },
    knownGood: { remove: unpackTokens(m.get(3), 'knownGood.remove'), upsert: unpackTokens(m.get(4), 'knownGood.upsert').map((token) => ({ token })) },
    history: { remove: unpackTokens(m.get(5), 'history.remove'), upsert: historyFromCbor(m.get(6), 'history.upsert') },
    binRules: { remove: strictKeys(m.get(7), 1, 'binRules.remove').map((k) => k[0]), upsert: keyedFromCbor(m.get(8), 'binRules.upsert', BIN) },
    prompts: { remove: strictKeys(m.get(9), 2, 'prompts.remove').map(([code, lang]) => ({ code, lang })), upsert: keyedFromCbor(m.get(10), 'prompts.upsert', PROMPT) },
    routes: {
      remove:
        format === 1
          ? strictKeys(m.get(11), 3, 'routes.remove').map(([brand, currency, gateway]) => ({ brand, currency, gateway }))
          : routeKeysFromCbor(m.get(11), 'routes.remove'),
      upsert: keyedFromCbor(m.get(12), 'routes.upsert', R),
    },
  };
  if (m.has(13)) out.restrictedFilter = m.get(13) === null ? null : fuseFilterFromCbor(m.get(13), 'restrictedFilter');
  if (m.has(14)) {
    const health = keyedFromCbor(m.get(14), 'gatewayHealth', HEALTH);
    if (health.length > LIMITS.gateways) fail('gatewayHealth', `at most ${LIMITS.gateways} entries expected`);
    out.gatewayHealth = health;
  }
  if (m.has(15)) out.floorLimits = m.get(15) === null ? null : floorFromCbor(m.get(15), 'floorLimits');
  const want = formatFor(out.routes.upsert, out.gatewayHealth, out.routes.remove, out.floorLimits);
  if (format !== want) fail('format', `format ${format} for a delta of format ${want}`);
  return out;
}

export const KEYED = { BIN, PROMPT, ROUTE, HEALTH, FLOOR };
export { compareTuple };
