// The personalisation rule set: data, not code. A rule says when it applies (merchant categories,
// amount range, currency) and what it adds (the k nearest merchants of the same category within a
// radius, with their prices for comparable items). Operators replace the set through the admin
// API; every stored set gets the next version number, and each notice names the version it was
// generated with, so a notice can always be explained. parseRuleSet() is the one validator.
import { ServiceError } from '../errors.ts';
import type { CatalogueIndex } from './geo-index.ts';

export interface NearbyPricesRule {
  id: string;
  when?: {
    /** ISO 18245 category codes of the paying terminal; absent = any. */
    categories?: string[];
    minAmount?: number;
    maxAmount?: number;
    currencies?: string[];
  };
  nearby: {
    k: number;
    radiusKm: number;
    /** Offers per merchant, cheapest first. */
    itemsPerMerchant: number;
    /** Only offers priced within [lo, hi] × the payment amount ("comparable items"); absent = any price. */
    priceBand?: [number, number];
  };
}

export interface RuleSet {
  rules: NearbyPricesRule[];
  /** At most this many personalised items in one notice. */
  maxItems: number;
}

export const DEFAULT_RULE_SET: RuleSet = {
  maxItems: 5,
  rules: [{ id: 'nearby-same-category', nearby: { k: 3, radiusKm: 2, itemsPerMerchant: 1, priceBand: [0.25, 4] } }],
};

const LIMITS = { rules: 32, k: 20, radiusKm: 100, itemsPerMerchant: 10, maxItems: 20, list: 64 };

function fail(path: string, what: string): never {
  throw new ServiceError('INVALID_FIELD', `rule set ${path}: ${what}`);
}
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
function onlyKeys(o: Record<string, unknown>, keys: string[], path: string) {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(path, `unknown field "${k}"`);
}
function num(v: unknown, path: string, min: number, max: number, int = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) fail(path, `must be ${int ? 'an integer' : 'a number'} in ${min}..${max}`);
  return v;
}
function strList(v: unknown, path: string, re: RegExp): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > LIMITS.list) fail(path, `must be a list of 1..${LIMITS.list}`);
  return v.map((s, i) => {
    if (typeof s !== 'string' || !re.test(s)) fail(`${path}[${i}]`, `must match ${re}`);
    return s;
  });
}

/** Validates an untrusted rule set document (unknown fields refused, every number bounded). */
export function parseRuleSet(doc: unknown): RuleSet {
  if (!isObj(doc)) fail('', 'must be an object');
  onlyKeys(doc, ['rules', 'maxItems'], '');
  const maxItems = num(doc.maxItems ?? DEFAULT_RULE_SET.maxItems, 'maxItems', 0, LIMITS.maxItems, true);
  if (!Array.isArray(doc.rules) || doc.rules.length > LIMITS.rules) fail('rules', `must be a list of at most ${LIMITS.rules}`);
  const ids = new Set<string>();
  const rules = doc.rules.map((r, i): NearbyPricesRule => {
    const p = `rules[${i}]`;
    if (!isObj(r)) fail(p, 'must be an object');
    onlyKeys(r, ['id', 'when', 'nearby'], p);
    if (typeof r.id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(r.id)) fail(`${p}.id`, '1-64 characters of A-Z a-z 0-9 _ . -');
    if (ids.has(r.id)) fail(`${p}.id`, 'duplicate');
    ids.add(r.id);
    let when: NearbyPricesRule['when'];
    if (r.when !== undefined) {
      if (!isObj(r.when)) fail(`${p}.when`, 'must be an object');
      onlyKeys(r.when, ['categories', 'minAmount', 'maxAmount', 'currencies'], `${p}.when`);
      when = {};
      if (r.when.categories !== undefined) when.categories = strList(r.when.categories, `${p}.when.categories`, /^[0-9]{4}$/);
      if (r.when.currencies !== undefined) when.currencies = strList(r.when.currencies, `${p}.when.currencies`, /^[A-Z]{3}$/);
      if (r.when.minAmount !== undefined) when.minAmount = num(r.when.minAmount, `${p}.when.minAmount`, 0, 1e13, true);
      if (r.when.maxAmount !== undefined) when.maxAmount = num(r.when.maxAmount, `${p}.when.maxAmount`, 0, 1e13, true);
    }
    if (!isObj(r.nearby)) fail(`${p}.nearby`, 'must be an object');
    onlyKeys(r.nearby, ['k', 'radiusKm', 'itemsPerMerchant', 'priceBand'], `${p}.nearby`);
    const nearby: NearbyPricesRule['nearby'] = {
      k: num(r.nearby.k, `${p}.nearby.k`, 1, LIMITS.k, true),
      radiusKm: num(r.nearby.radiusKm, `${p}.nearby.radiusKm`, 0.01, LIMITS.radiusKm),
      itemsPerMerchant: num(r.nearby.itemsPerMerchant ?? 1, `${p}.nearby.itemsPerMerchant`, 1, LIMITS.itemsPerMerchant, true),
    };
    if (r.nearby.priceBand !== undefined) {
      const b = r.nearby.priceBand;
      if (!Array.isArray(b) || b.length !== 2) fail(`${p}.nearby.priceBand`, 'must be [low, high]');
      const lo = num(b[0], `${p}.nearby.priceBand[0]`, 0, 1000);
      const hi = num(b[1], `${p}.nearby.priceBand[1]`, lo, 1000);
      nearby.priceBand = [lo, hi];
    }
    return { id: r.id, ...(when ? { when } : {}), nearby };
  });
  return { rules, maxItems };
}

export interface RuleInput {
  category: string;
  lat: number;
  lon: number;
  amount: number;
  currency: string;
  /** The paying merchant (its own catalogue entry, if any, is not offered as an alternative). */
  merchant: string;
}

export interface PersonalItem {
  rule: string;
  merchant: string;
  distanceKm: number;
  item: string;
  price: { value: number; currency: string };
}

function applies(r: NearbyPricesRule, x: RuleInput): boolean {
  const w = r.when;
  if (!w) return true;
  if (w.categories && !w.categories.includes(x.category)) return false;
  if (w.currencies && !w.currencies.includes(x.currency)) return false;
  if (w.minAmount !== undefined && x.amount < w.minAmount) return false;
  if (w.maxAmount !== undefined && x.amount > w.maxAmount) return false;
  return true;
}

/** Runs the rules in order; items are de-duplicated by (merchant, item) and capped at maxItems. */
export function evaluateRules(set: RuleSet, x: RuleInput, index: CatalogueIndex): PersonalItem[] {
  const out: PersonalItem[] = [];
  const seen = new Set<string>();
  for (const r of set.rules) {
    if (out.length >= set.maxItems) break;
    if (!applies(r, x)) continue;
    const n = r.nearby;
    const near = index.nearest(x.category, x.lat, x.lon, n.k, n.radiusKm, (m) => m.id === x.merchant);
    for (const { merchant, distanceKm, offers } of near) {
      let taken = 0;
      for (const o of offers) {
        if (taken >= n.itemsPerMerchant || out.length >= set.maxItems) break;
        // Comparable prices only: same currency, and within the band around what was just paid.
        if (o.currency !== x.currency) continue;
        if (n.priceBand && (o.price < x.amount * n.priceBand[0] || o.price > x.amount * n.priceBand[1])) continue;
        const key = `${merchant.id}\u0000${o.item}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ rule: r.id, merchant: merchant.name, distanceKm: Math.round(distanceKm * 100) / 100, item: o.item, price: { value: o.price, currency: o.currency } });
        taken++;
      }
    }
  }
  return out;
}
