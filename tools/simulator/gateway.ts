// The emulated payment gateway: decides one attempt from the card's hidden state, the gateway's
// success rate for the card's segment at that simulated time (with drift), outage windows and
// its own fraud screening. Pure: the caller passes the random draws, so both arms get the same
// answer for the same card at the same gateway on the same attempt.
import type { FailureType, HistoryStatus } from '../../protocol/dataset/types.ts';
import type { SimCard } from './market.ts';
import type { GatewaySpec } from './scenario.ts';

export type OutcomeType = FailureType;

export interface GatewayOutcome {
  status: HistoryStatus;
  /** ISO 8583 field 39 style response code, or TIMEOUT for a technical failure. */
  code: string | null;
  type: OutcomeType | null;
}

export interface AttemptContext {
  card: SimCard;
  /** Simulated hours since the start of the run. */
  hour: number;
  /** Reporting-currency minor units. */
  amountReporting: number;
  crossBorder: boolean;
  /** The cardholder enabled international payments after a prompt (this arm only). */
  intlEnabled: boolean;
}

/** Independent uniform draws for one attempt (each decision its own, so they never shift). */
export interface AttemptDraws {
  outage: number;
  technical: number;
  screen: number;
  issuer: number;
  code: number;
  /** Acceptance draw; the engine mixes a persistent per card × gateway draw into it. */
  acceptance: number;
}

export function regionOf(crossBorder: boolean): 'domestic' | 'cross-border' {
  return crossBorder ? 'cross-border' : 'domestic';
}

/** Most specific success-rate key that the gateway defines for this segment. */
export function rateKey(g: GatewaySpec, brand: string, crossBorder: boolean): string {
  const region = regionOf(crossBorder);
  for (const k of [`${brand}:${region}`, brand, region]) if (g.successRates[k] !== undefined) return k;
  return 'default';
}

/** The gateway's acceptance rate for a segment at simulated hour h (drift applied, clamped to [0,1]). */
export function successRate(g: GatewaySpec, brand: string, crossBorder: boolean, hour: number): number {
  const key = rateKey(g, brand, crossBorder);
  let rate = g.successRates[key];
  const region = regionOf(crossBorder);
  for (const d of g.drift) {
    if (d.segment !== undefined && d.segment !== key && d.segment !== region && d.segment !== brand) continue;
    if (hour <= d.fromHour) continue;
    rate += d.delta * Math.min(1, (hour - d.fromHour) / (d.toHour - d.fromHour));
  }
  return Math.min(1, Math.max(0, rate));
}

export function inOutage(g: GatewaySpec, hour: number): number {
  let rate = 0;
  for (const o of g.outages) if (hour >= o.fromHour && hour < o.toHour) rate = Math.max(rate, o.failureRate);
  return rate;
}

/**
 * Would this card pay for this order at some gateway, given enough tries? (Used to call a Precheck
 * decline "false": the card is legitimate and its hidden state lets it pay.) Fraudster cards never
 * count, whatever the issuer would say.
 */
export function cardCanPay(card: SimCard, amountReporting: number, crossBorder: boolean, intlEnabled: boolean): boolean {
  switch (card.state) {
    case 'good':
    case 'issuer_unavailable':
      return true;
    case 'low_balance':
    case 'over_limit':
      return amountReporting <= (card.ceiling ?? 0);
    case 'intl_disabled':
      return !crossBorder || intlEnabled;
    default:
      return false;
  }
}

export interface IssuerParams {
  issuerUnavailableRate: number;
  fraudIssuerApproveRate: number;
}

export function decideAttempt(g: GatewaySpec, ctx: AttemptContext, d: AttemptDraws, p: IssuerParams): GatewayOutcome {
  const fail = (code: string, type: OutcomeType): GatewayOutcome => ({ status: 'failure', code, type });
  // 1. The gateway itself: outage windows, then its everyday technical failure rate.
  if (d.outage < inOutage(g, ctx.hour)) return fail('TIMEOUT', 'technical');
  if (d.technical < g.technicalFailureRate) return fail('TIMEOUT', 'technical');
  const { card } = ctx;
  // 2. The gateway's own fraud screening sees only fraudster cards here (its false positives on good
  //    cards are part of its acceptance rate below).
  if (card.state === 'fraud' && d.screen < g.fraudScreen) return fail('59', 'fraud');
  // 3. The issuer, from the card's hidden state.
  switch (card.state) {
    case 'stolen_lost':
      return fail(card.declineCode ?? '43', 'hard');
    case 'fraud':
      // Not yet reported stolen: the issuer's own fraud scoring approves some of them.
      if (d.issuer >= p.fraudIssuerApproveRate) return fail('05', 'soft');
      break;
    case 'intl_disabled':
      if (ctx.crossBorder && !ctx.intlEnabled) return fail(card.declineCode ?? '57', 'hard');
      break;
    case 'low_balance':
      if (ctx.amountReporting > (card.ceiling ?? 0)) return fail('51', 'soft');
      break;
    case 'over_limit':
      if (ctx.amountReporting > (card.ceiling ?? 0)) return fail(d.code < 0.8 ? '61' : '65', 'soft');
      break;
    case 'issuer_unavailable':
      if (d.issuer < p.issuerUnavailableRate) return fail(d.code < 0.6 ? '91' : '96', 'soft');
      break;
    default:
      break;
  }
  // 4. The gateway's acceptance for this segment (routing, acquirer, network tokens, 3DS
  //    exemptions all show up here): the rest is the generic "do not honor".
  if (d.acceptance < successRate(g, card.brand, ctx.crossBorder, ctx.hour)) return { status: 'success', code: '00', type: null };
  return fail('05', 'soft');
}

/** Fee of one attempt in reporting-currency minor units. */
export function attemptFee(g: GatewaySpec, amountReporting: number): number {
  return g.feeFixed + Math.round((amountReporting * g.feeBps) / 10_000);
}
