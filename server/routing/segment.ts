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
   * its rate in the order's segment is within affinityGap() of the best, without exploration.
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
 * usual reason to have several gateways); then region × currency, all brands: the domestic /
 * cross-border split kept when one brand has too few outcomes at a gateway; brand × currency is
 * what the device dataset carries (and the level for orders whose region is unknown); currency
 * alone still separates local from cross-border acquiring.
 *
 * Between them, the region over all currencies (known regions only: an order of unknown region
 * has no key there, segmentKeys gives ''). Each currency was warmed up and ranked on its own, on
 * the view that a gateway's rate in other currencies says little about this one; but whether an
 * issuer abroad approves through an acquirer hardly depends on the presentment currency, and a
 * currency the shop seldom takes (10–15 % of orders) then spent its first half-day round-robin
 * over every gateway, a third of its cross-border cards at one 9–13 points weaker abroad (the
 * simulator's drift-outage: 84 of 158 new cross-border cards in the first 12 hours went to the
 * weaker two; 46 of 159 with this level). Region × currency is shrunk towards it, so a currency
 * with its own evidence keeps its own rate; one without borrows the region's.
 *
 * Why region × currency before brand × currency: with success-first routing a segment's traffic
 * goes to its best gateway, so the others seldom reach minSamples in a brand × region segment;
 * the ranking then fell back to brand × currency, where the domestic orders (most of a shop's)
 * set the rates, and cross-border cards went to the gateway that is best at home (the simulator's
 * calm market: 244 of 443 new cross-border cards on the network path went to gateways 9–13 points
 * weaker abroad).
 */
export const SEGMENT_LEVELS = ['brand+country+currency+band', 'brand+region+currency+band', 'brand+region+currency', 'region+currency', 'region', 'brand+currency', 'currency'] as const;
export type SegmentLevel = (typeof SEGMENT_LEVELS)[number];

/**
 * The level each level's rate is shrunk towards (index into SEGMENT_LEVELS; null = none): its
 * nearest coarser level that contains it. Brand × region × currency goes to region × currency
 * (same region, all brands), not to brand × currency, which mixes the regions; region × currency
 * goes to the region (all currencies), brand × currency to currency.
 */
export const SHRINK_PARENT: readonly (number | null)[] = [1, 2, 3, 4, null, 6, null];

/**
 * Index of the level every gateway is warmed up at (see GatewayRouter: exploration): the region
 * (region × currency for an order of unknown region), the coarsest level that keeps the domestic /
 * cross-border split. Finer segments
 * borrow from it (shrinkage, fallback) until they have their own samples; warming up every brand ×
 * region × currency segment cost two gateways × minSamples outcomes in each, most of them at the
 * weaker gateways (replaying the calm simulation: 561 of 968 recommendations for new cards on the
 * network path, 316 per region × currency).
 */
export const WARMUP_LEVEL = SEGMENT_LEVELS.indexOf('region'); // the level before it (region × currency) for an unknown region
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
  return [`b=${brand}|c=${country}|r=${r}|$=${cur}|a=${band}`, `b=${brand}|r=${r}|$=${cur}|a=${band}`, `b=${brand}|r=${r}|$=${cur}`, `r=${r}|$=${cur}`, r === '?' ? '' : `r=${r}`, `b=${brand}|$=${cur}`, `$=${cur}`];
}
