// Local authentication: the card number becomes a token (card key, HMAC) at once; every lookup
// uses the token, the rules are the shared rules/, and nothing returned or journaled
// holds the card number (only token, BIN, last four).
import { ProtocolError } from '../../protocol/errors.ts';
import { cardToken, panDigits } from '../../protocol/dataset/token.ts';
import { datasetState } from '../../protocol/dataset/freshness.ts';
import type { DatasetState } from '../../protocol/messages/catalogue.ts';
import { cardBrand } from '../../rules/brand.ts';
import { type Decision, type DecisionReason, type FloorFacts, decide } from '../../rules/decide.ts';
import { isCrossBorder } from '../../rules/cross-border.ts';
import { resolvePrompt } from '../../rules/prompts.ts';
import { AFFINITY_SECONDS, AVOID_DECLINED_SECONDS, approvedGateway, chooseGateway, declinedGateways, eliminatedAt, withAffinity } from '../../rules/routing.ts';
import { amountBand, regionOf } from '../../rules/segment.ts';
import type { DatasetSlots } from '../store/dataset-slots.ts';
import type { FloorBudget } from '../store/floor-budget.ts';
import type { FloorLimits, RouteRegion } from '../../protocol/dataset/types.ts';

export interface VerifyRequest {
  /** card number (digits; spaces/dashes tolerated) — never stored or returned */
  pan: string;
  expMonth?: number;
  expYear?: number;
  /** minor units */
  amount: number;
  /** ISO 4217 */
  currency: string;
  /** ISO 3166-1 alpha-2 country of the order */
  country?: string;
  /** issuing country when the caller knows it (ISO 3166-1 alpha-2) */
  issuerCountry?: string;
  /** language for the prompt, e.g. "en", "zh-CN" */
  lang?: string;
  orderId?: string;
}

export interface VerifyResult {
  decision: Decision;
  reason: DecisionReason;
  promptCode: string | null;
  promptMessage: string | null;
  promptLang: string | null;
  token: Uint8Array;
  bin: string;
  last4: string;
  brand: string | null;
  /** 0 = no dataset */
  datasetVersion: number;
  datasetState: DatasetState;
  gateway: string | null;
  /** the next gateways of the order's segment, best first (not eliminated), for the bridge to fall back on */
  alternatives: string[];
  crossBorder: boolean;
  /** rule detail for logs (restricted reason, response code...); never card data */
  detail?: string;
}

export interface LocalAuthContext {
  slots: DatasetSlots;
  cardKey: Uint8Array;
  /** the merchant's country (ISO alpha-2), configured on the device; used for crossBorder */
  merchantCountry: string | null;
  now: number;
  /** the device's floor budget and order memory; absent = no floor-limit approvals */
  floor?: FloorBudget;
}

/** The floor of a segment (0 = none). Unknown region: the lower of the two, never the domestic one by default. */
export function floorLimitOf(f: FloorLimits, brand: string, currency: string, region: RouteRegion | null): number {
  const of = (r: RouteRegion) => f.limits.find((l) => l.brand === brand && l.currency === currency && l.region === r)?.limit ?? 0;
  return region ? of(region) : Math.min(of('dom'), of('xb'));
}

function checkRequest(req: VerifyRequest): string {
  if (typeof req !== 'object' || req === null) throw new ProtocolError('INVALID_FIELD', 'verify request expected');
  const digits = panDigits(req.pan);
  if (!Number.isInteger(req.amount) || req.amount < 0) throw new ProtocolError('INVALID_FIELD', 'amount must be a non-negative integer', 'amount');
  if (typeof req.currency !== 'string' || !/^[A-Z]{3}$/.test(req.currency)) throw new ProtocolError('INVALID_FIELD', 'currency must be ISO 4217', 'currency');
  if (req.country !== undefined && !/^[A-Za-z]{2}$/.test(req.country)) throw new ProtocolError('INVALID_FIELD', 'country must be ISO 3166-1 alpha-2', 'country');
  return digits;
}

/** Alternatives a VERIFY_RES carries at most (protocol/messages catalogue). */
export const MAX_ALTERNATIVES = 8;

export function verifyLocally(ctx: LocalAuthContext, req: VerifyRequest): VerifyResult {
  const digits = checkRequest(req);
  const token = cardToken(ctx.cardKey, digits);
  const slot = ctx.slots.activeSlot();
  const meta = slot ? ctx.slots.activeMeta() : null;
  const state = datasetState(meta, ctx.now);
  const facts = slot ? ctx.slots.facts(slot, token) : { restricted: null, restrictedMaybe: false, knownGood: false, history: null };
  const binRule = slot ? ctx.slots.binRule(slot, digits) : null;
  const brand = facts.history?.brand ?? cardBrand(digits);
  // Unknown counts as domestic here: it can only turn a 57/62 review into a decline, never an approval.
  const crossBorderKnown = isCrossBorder(req.country, req.issuerCountry, ctx.merchantCountry);
  const crossBorder = crossBorderKnown ?? false;
  // Floor facts: every verification with an order id is remembered (a later one of the same order
  // is a repeat); the budget is read only when the floor could approve this amount.
  const repeatOrder = ctx.floor ? ctx.floor.noteOrder(req.orderId, ctx.now) : true;
  const floorSection = slot && ctx.floor ? ctx.slots.floorLimits(slot) : null;
  let floor: FloorFacts | undefined;
  if (floorSection && ctx.floor && brand) {
    const limit = floorLimitOf(floorSection, brand, req.currency, crossBorderKnown === null ? null : regionOf(crossBorderKnown));
    const budgetLeft = limit > 0 && req.amount <= limit && !repeatOrder && ctx.floor.hasRoom(ctx.now, floorSection);
    floor = { limit, budgetLeft, repeatOrder };
  }
  const card = req.expMonth !== undefined && req.expYear !== undefined ? { card: { expMonth: req.expMonth, expYear: req.expYear } } : {};

  const r = decide({
    facts: { restricted: facts.restricted, restrictedMaybe: facts.restrictedMaybe, binRule, knownGood: facts.knownGood, history: facts.history?.events ?? [], brand },
    order: { amount: req.amount, currency: req.currency, crossBorder },
    ...card,
    now: ctx.now,
    dataState: state,
    stage: 'local',
    ...(floor ? { floor } : {}),
  });
  if (r.reason === 'floor_limit') ctx.floor?.spend(ctx.now, req.orderId);
  const prompt = r.promptCode ? resolvePrompt(r.promptCode, req.lang, slot ? ctx.slots.prompts(slot, r.promptCode) : []) : null;
  // The route for the order's segment (brand × currency × domestic/cross-border × amount band, or
  // the finest coarser one the dataset has), skipping gateways the service had eliminated until a
  // time not yet passed and, while another can take the order, those that declined this card;
  // the gateway that approved this card last goes first while its rate is close to the best's.
  let gateway: string | null = null;
  let alternatives: string[] = [];
  if (slot && brand && r.decision !== 'decline') {
    const events = facts.history?.events ?? [];
    const routes = ctx.slots.segmentRoutes(slot, brand, req.currency, regionOf(crossBorder), amountBand(req.amount, req.currency));
    const ranked = withAffinity(routes, approvedGateway(events, ctx.now - AFFINITY_SECONDS)).map((x) => x.gateway);
    const eliminated = eliminatedAt(ctx.slots.gatewayHealth(slot), ctx.now);
    const declined = declinedGateways(facts.history?.events ?? [], ctx.now - AVOID_DECLINED_SECONDS);
    gateway = chooseGateway(ranked, eliminated, declined).gateway;
    alternatives = ranked.filter((g) => g !== gateway && !eliminated.includes(g)).slice(0, MAX_ALTERNATIVES);
  }
  const out: VerifyResult = {
    decision: r.decision,
    reason: r.reason,
    promptCode: r.promptCode,
    promptMessage: prompt?.message ?? null,
    promptLang: prompt?.lang ?? null,
    token,
    bin: digits.slice(0, 6),
    last4: digits.slice(-4),
    brand,
    datasetVersion: meta?.version ?? 0,
    datasetState: state,
    gateway,
    alternatives,
    crossBorder,
  };
  if (r.detail !== undefined) out.detail = r.detail;
  return out;
}
