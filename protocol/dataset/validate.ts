// Field validation for dataset content, shared by the encoder (a publisher cannot sign a bad
// dataset) and the decoder (a device never stores one). Error messages name the field, never a
// token value.
import { ProtocolError } from '../errors.ts';
import { TOKEN_BYTES } from './token.ts';
import { FAILURE_TYPES, ROUTE_BANDS, ROUTE_REGIONS, type BinRule, type FloorLimit, type GatewayHealth, type HistoryEntry, type HistoryEvent, type Prompt, type Route } from './types.ts';

export const LIMITS = {
  reason: 64,
  brand: 32,
  gateway: 64,
  promptCode: 64,
  promptLang: 16,
  /** VERIFY_RES carries at most 512 bytes of prompt text */
  promptMessage: 512,
  responseCode: 8,
  eventsPerCard: 1000,
  entriesPerSection: 50_000_000,
  smallSection: 100_000,
  /** a route's rank within its segment */
  rank: 255,
  /** gateways in the health section */
  gateways: 1000,
  /** segments in the floor-limit section */
  floorSegments: 10_000,
  /** a floor limit, minor units (u32: the codec's integers stay integers; far beyond any order a device should approve unseen) */
  floorLimit: 0xffffffff,
  /** the floor budget: approvals per window, and the window's length in seconds (1 min .. 7 days) */
  floorApprovals: 1_000_000,
  floorWindowMin: 60,
  floorWindowMax: 7 * 86_400,
} as const;


export function fail(field: string, what: string): never {
  throw new ProtocolError('INVALID_FIELD', `${field}: ${what}`, field);
}

export function checkToken(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== TOKEN_BYTES) fail(field, `token must be ${TOKEN_BYTES} bytes`);
  return v;
}

/** Non-empty text of at most `max` UTF-8 bytes (the message catalogue bounds texts in bytes). */
export function checkString(v: unknown, field: string, max: number, pattern?: RegExp): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || Buffer.byteLength(v, 'utf8') > max) {
    fail(field, `text of 1..${max} UTF-8 bytes expected`);
  }
  if (pattern && !pattern.test(v)) fail(field, 'bad format');
  return v;
}

export function checkUint(v: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(field, `integer 0..${max} expected`);
  return v;
}

export const CURRENCY_RE = /^[A-Z]{3}$/;
const CODE_RE = /^[A-Za-z0-9]{1,8}$/;
const ADVICE_RE = /^[0-9]{2}$/;
export const PREFIX_RE = /^[0-9]{1,8}$/;

export function checkEvent(e: unknown, field: string): HistoryEvent {
  if (typeof e !== 'object' || e === null) fail(field, 'event object expected');
  const ev = e as Record<string, unknown>;
  const out: HistoryEvent = {
    at: checkUint(ev.at, `${field}.at`),
    amount: checkUint(ev.amount, `${field}.amount`),
    currency: checkString(ev.currency, `${field}.currency`, 3, CURRENCY_RE),
    status: ev.status === 'success' || ev.status === 'failure' ? ev.status : fail(`${field}.status`, 'success|failure expected'),
  };
  if (ev.code !== undefined) out.code = checkString(ev.code, `${field}.code`, LIMITS.responseCode, CODE_RE);
  if (ev.type !== undefined) {
    if (!(FAILURE_TYPES as readonly unknown[]).includes(ev.type)) fail(`${field}.type`, 'hard|soft|technical|fraud expected');
    out.type = ev.type as HistoryEvent['type'];
  }
  if (ev.advice !== undefined) out.advice = checkString(ev.advice, `${field}.advice`, 2, ADVICE_RE);
  if (ev.gateway !== undefined) out.gateway = checkString(ev.gateway, `${field}.gateway`, LIMITS.gateway);
  if (ev.crossBorder !== undefined) {
    if (typeof ev.crossBorder !== 'boolean') fail(`${field}.crossBorder`, 'boolean expected');
    out.crossBorder = ev.crossBorder;
  }
  return out;
}

export function checkHistoryEntry(h: unknown, field: string): HistoryEntry {
  if (typeof h !== 'object' || h === null) fail(field, 'object expected');
  const e = h as Record<string, unknown>;
  const token = checkToken(e.token, `${field}.token`);
  if (!Array.isArray(e.events) || e.events.length > LIMITS.eventsPerCard) fail(`${field}.events`, `array of at most ${LIMITS.eventsPerCard} expected`);
  const out: HistoryEntry = { token, events: e.events.map((ev, i) => checkEvent(ev, `${field}.events[${i}]`)) };
  if (e.brand !== undefined) out.brand = checkString(e.brand, `${field}.brand`, LIMITS.brand);
  return out;
}

export function checkBinRule(r: unknown, field: string): BinRule {
  if (typeof r !== 'object' || r === null) fail(field, 'object expected');
  const e = r as Record<string, unknown>;
  if (e.action !== 'decline' && e.action !== 'review') fail(`${field}.action`, 'decline|review expected');
  return {
    prefix: checkString(e.prefix, `${field}.prefix`, 8, PREFIX_RE),
    action: e.action,
    reason: checkString(e.reason, `${field}.reason`, LIMITS.reason),
  };
}

export function checkPrompt(p: unknown, field: string): Prompt {
  if (typeof p !== 'object' || p === null) fail(field, 'object expected');
  const e = p as Record<string, unknown>;
  return {
    code: checkString(e.code, `${field}.code`, LIMITS.promptCode),
    lang: checkString(e.lang, `${field}.lang`, LIMITS.promptLang, /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/),
    message: checkString(e.message, `${field}.message`, LIMITS.promptMessage),
  };
}

export function checkRoute(r: unknown, field: string): Route {
  if (typeof r !== 'object' || r === null) fail(field, 'object expected');
  const e = r as Record<string, unknown>;
  const rate = e.successRate;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0 || rate > 1) fail(`${field}.successRate`, 'number 0..1 expected');
  const out: Route = {
    brand: checkString(e.brand, `${field}.brand`, LIMITS.brand),
    currency: checkString(e.currency, `${field}.currency`, 3, CURRENCY_RE),
    gateway: checkString(e.gateway, `${field}.gateway`, LIMITS.gateway),
    successRate: rate,
  };
  if (e.region !== undefined) {
    if (!(ROUTE_REGIONS as readonly unknown[]).includes(e.region)) fail(`${field}.region`, `${ROUTE_REGIONS.join('|')} expected`);
    out.region = e.region as Route['region'];
  }
  if (e.band !== undefined) {
    if (!(ROUTE_BANDS as readonly unknown[]).includes(e.band)) fail(`${field}.band`, `${ROUTE_BANDS.join('|')} expected`);
    out.band = e.band as Route['band'];
  }
  if (e.rank !== undefined) out.rank = checkUint(e.rank, `${field}.rank`, LIMITS.rank);
  return out;
}

export function checkHealth(h: unknown, field: string): GatewayHealth {
  if (typeof h !== 'object' || h === null) fail(field, 'object expected');
  const e = h as Record<string, unknown>;
  return { gateway: checkString(e.gateway, `${field}.gateway`, LIMITS.gateway), eliminatedUntil: checkUint(e.eliminatedUntil, `${field}.eliminatedUntil`, 0xffffffff) };
}

export function checkFloorLimit(f: unknown, field: string): FloorLimit {
  if (typeof f !== 'object' || f === null) fail(field, 'object expected');
  const e = f as Record<string, unknown>;
  if (!(ROUTE_REGIONS as readonly unknown[]).includes(e.region)) fail(`${field}.region`, `${ROUTE_REGIONS.join('|')} expected`);
  const limit = checkUint(e.limit, `${field}.limit`, LIMITS.floorLimit);
  // A zero floor is said by leaving the segment out: one encoding per content.
  if (limit === 0) fail(`${field}.limit`, `integer 1..${LIMITS.floorLimit} expected`);
  return {
    brand: checkString(e.brand, `${field}.brand`, LIMITS.brand),
    currency: checkString(e.currency, `${field}.currency`, 3, CURRENCY_RE),
    region: e.region as FloorLimit['region'],
    limit,
  };
}

/** The floor section's budget fields (the limits are checked one by one, as keyed entries). */
export function checkFloorBudget(maxApprovals: unknown, windowSeconds: unknown, field: string): { maxApprovals: number; windowSeconds: number } {
  const n = checkUint(maxApprovals, `${field}.maxApprovals`, LIMITS.floorApprovals);
  if (n === 0) fail(`${field}.maxApprovals`, `integer 1..${LIMITS.floorApprovals} expected`);
  const w = checkUint(windowSeconds, `${field}.windowSeconds`, LIMITS.floorWindowMax);
  if (w < LIMITS.floorWindowMin) fail(`${field}.windowSeconds`, `integer ${LIMITS.floorWindowMin}..${LIMITS.floorWindowMax} expected`);
  return { maxApprovals: n, windowSeconds: w };
}
