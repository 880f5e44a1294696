// Routing segments: which orders are "alike" for a gateway's success rate, and the coarser
// segments a recommendation falls back to when a fine one has too few outcomes.
import { amountBand } from '../../rules/segment.ts';

/** What the router knows about an order when it recommends a gateway. */
export interface Segment {
  brand: string; // card brand, e.g. 'visa' (as credit-card-type names it)
  issuerCountry?: string | null; // ISO 3166-1 alpha-2 of the issuer (or the billing country as its proxy), if known
  /** Card issued outside the merchant's country; null/absent when unknown. */
  crossBorder?: boolean | null;
  currency: string; // ISO 4217
  amount: number; // integer minor units
  /** Gateways allowed for this order (e.g. those that accept the currency); default: all known. */
  eligible?: readonly string[];
  /**
   * Gateways not to recommend for this card (they declined it recently), unless no other eligible
   * gateway is available.
   */
  avoid?: readonly string[];
  /**
   * The gateway that approved this card last (rules/routing.ts approvedGateway): recommended while
   * its rate in the order's segment is within AFFINITY_MAX_GAP of the best, without exploration.
   */
  prefer?: string | null;
  /** The merchant's routing objective; default: the router's (success first). */
  objective?: RoutingObjective;
}

/**
 * What the router maximises. 'success' (the default): the probability that the order gets paid;
 * a fee decides only between gateways whose success rates are statistically indistinguishable.
 * 'value': the expected margin of an attempt, success × amount × marginBps / 10 000 − fee, chosen
 * explicitly by a merchant who accepts fewer paid orders for lower fees.
 */
export type RoutingObjective = { kind: 'success' } | { kind: 'value'; marginBps: number };

/** Amount bands: one definition for the service and the device (rules/segment.ts). */
export { amountBand, type AmountBand } from '../../rules/segment.ts';

/**
 * Fallback levels, finest first. The issuer country goes first because it is the sparsest
 * dimension (hundreds of values); the amount band next; then brand × region (domestic or
 * cross-border: acquirers' approval rates differ most along this line, local acquiring being the
 * usual reason to have several gateways); brand × currency is what the device dataset carries;
 * currency alone still separates local from cross-border acquiring. There is no all-currencies
 * level on purpose: a gateway's rate in other currencies (other acquiring banks) says little about
 * this one; with nothing in the currency, the cheapest gateway goes first and exploration learns.
 */
export const SEGMENT_LEVELS = ['brand+country+currency+band', 'brand+region+currency+band', 'brand+region+currency', 'brand+currency', 'currency'] as const;
export type SegmentLevel = (typeof SEGMENT_LEVELS)[number];

/** Index of the level every gateway is warmed up at (see GatewayRouter: exploration). */
export const WARMUP_LEVEL = SEGMENT_LEVELS.indexOf('brand+region+currency');
/** Index of the brand × currency level (the device dataset's routes table). */
export const BRAND_CURRENCY_LEVEL = SEGMENT_LEVELS.indexOf('brand+currency');

function region(crossBorder: boolean | null | undefined): string {
  return crossBorder === true ? 'xb' : crossBorder === false ? 'dom' : '?';
}

/** The key of a segment at each level (same order as SEGMENT_LEVELS). */
export function segmentKeys(seg: Pick<Segment, 'brand' | 'issuerCountry' | 'crossBorder' | 'currency' | 'amount'>): string[] {
  const brand = seg.brand.toLowerCase();
  const cur = seg.currency.toUpperCase();
  const country = seg.issuerCountry ? seg.issuerCountry.toUpperCase() : '??';
  const r = region(seg.crossBorder);
  const band = amountBand(seg.amount, cur);
  return [`b=${brand}|c=${country}|r=${r}|$=${cur}|a=${band}`, `b=${brand}|r=${r}|$=${cur}|a=${band}`, `b=${brand}|r=${r}|$=${cur}`, `b=${brand}|$=${cur}`, `$=${cur}`];
}
