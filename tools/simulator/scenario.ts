// Scenario files for the market simulator: types, defaults and validation. Every field is
// documented in bench/scenarios/README.md (with where its number comes from). Validation is
// hand-written so each problem is ONE line naming the file and the key, e.g.
//   "calm.json: cards.states.good must be a number from 0 to 1 (got "x")".
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PrecheckError } from '../../errors/precheck-error.ts';

export class ScenarioError extends PrecheckError<'INVALID_FIELD'> {
  constructor(message: string) {
    super('INVALID_FIELD', message);
    this.name = 'ScenarioError';
  }
}

export const CARD_STATES = ['good', 'low_balance', 'intl_disabled', 'over_limit', 'issuer_unavailable', 'stolen_lost'] as const;
export type LegitCardState = (typeof CARD_STATES)[number];
export const FRAUD_CARD_STATES = ['fraud', 'stolen_lost'] as const;
export type FraudCardState = (typeof FRAUD_CARD_STATES)[number];
export type CardState = LegitCardState | 'fraud';

/** Brands the synthetic card generator can make numbers for (credit-card-type ids). */
export const BRANDS = ['visa', 'mastercard', 'american-express'] as const;
export type Brand = (typeof BRANDS)[number];

export interface Drift {
  fromHour: number;
  toHour: number;
  /** Added to the success rate, ramping linearly from 0 at fromHour to delta at toHour, then held. */
  delta: number;
  /** Only success-rate keys equal to this (e.g. "cross-border", "visa:domestic"); default all. */
  segment?: string;
}

export interface Outage {
  fromHour: number;
  toHour: number;
  /** Share of attempts that end in a technical failure (timeout) during the window. */
  failureRate: number;
}

export interface GatewaySpec {
  name: string;
  /** Fee per attempt, approved or not: fixed part, reporting-currency minor units. */
  feeFixed: number;
  /** Fee per attempt: proportional part in basis points of the amount. */
  feeBps: number;
  /** Keys "default", "domestic"|"cross-border", "<brand>", "<brand>:<domestic|cross-border>". */
  successRates: Record<string, number>;
  /** Share of fraudster-card attempts this gateway's own screening refuses (code 59, fraud). */
  fraudScreen: number;
  /** Technical failures outside outages. */
  technicalFailureRate: number;
  drift: Drift[];
  outages: Outage[];
}

export interface Behaviour {
  /** Prompt from Precheck (decline / review "use another card" ...): switch to another card. */
  switchCardWhenPrompted: number;
  /** After a gateway decline: retry the same card ... */
  retrySameAfterDecline: number;
  /** ... or else switch to another card (the rest give up). */
  switchCardAfterDecline: number;
  /** Gateway attempts a customer makes for one order at most. */
  maxAttemptsPerOrder: number;
}

export interface Scenario {
  name: string;
  description: string;
  seed: number;
  orders: number;
  durationHours: number;
  merchant: { country: string; currency: string };
  /** Order (presentment) currency weights; default: the merchant currency only. */
  orderCurrencies: Record<string, number>;
  /** Reporting-currency units per unit of each order currency (merchant currency = 1). */
  fx: Record<string, number>;
  /** Order amounts, log-normal, reporting-currency minor units. */
  amounts: { median: number; sigma: number; min: number; max: number };
  cards: {
    brands: Record<string, number>;
    issuerCountries: Record<string, number>;
    states: Record<LegitCardState, number>;
    lowBalance: { median: number; sigma: number };
    overLimit: { median: number; sigma: number };
    issuerUnavailableRate: number;
    cardsPerCustomer: Record<string, number>;
  };
  customers: Behaviour & {
    repeatShare: number;
    enableInternationalWhenPrompted: number;
    reduceAmountWhenPrompted: number;
    reduceAmountTo: number;
    retryLaterWhenPrompted: number;
    retryLaterMinutes: number;
    threeDsCompletion: number;
  };
  fraud: Behaviour & {
    share: number;
    waves: Array<{ fromHour: number; toHour: number; share: number }>;
    fraudsterReuse: number;
    cardsPerOrder: number;
    cardStates: Record<FraudCardState, number>;
    issuerApproveRate: number;
    threeDsPassRate: number;
  };
  gateways: GatewaySpec[];
  /** Whether technical failures (timeouts) are charged like any attempt. */
  chargeTechnicalFailures: boolean;
  /**
   * Share of a gateway's acceptance decisions that are persistent for a card at that gateway (the
   * issuer's risk model sees the same card, merchant and acquirer again); the rest is drawn afresh
   * per attempt. 0 = every attempt independent; 1 = a card declined at a gateway is always declined there.
   */
  declinePersistence: number;
  /** Prompt texts seeded into the network service (code → English text); optional. */
  prompts: Record<string, string>;
}

type Obj = Record<string, unknown>;

class V {
  constructor(private readonly where: string) {}

  fail(key: string, what: string, got?: unknown): never {
    const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)?.slice(0, 60)})`;
    throw new ScenarioError(`${this.where}: ${key} ${what}${shown}`);
  }

  obj(v: unknown, key: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, 'must be an object', v);
    return v as Obj;
  }

  known(o: Obj, key: string, keys: string[]): void {
    for (const k of Object.keys(o)) if (!keys.includes(k)) this.fail(key ? `${key}.${k}` : k, `is not a known key (known: ${keys.join(', ')})`);
  }

  num(o: Obj, key: string, path: string, min: number, max: number, def?: number, integer = false): number {
    const v = o[key];
    if (v === undefined && def !== undefined) return def;
    if (v === undefined) this.fail(path, 'is required');
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      this.fail(path, `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`, v);
    }
    return v;
  }

  prob(o: Obj, key: string, path: string, def?: number): number {
    return this.num(o, key, path, 0, 1, def);
  }

  str(o: Obj, key: string, path: string, re: RegExp, what: string, def?: string): string {
    const v = o[key];
    if (v === undefined && def !== undefined) return def;
    if (typeof v !== 'string' || !re.test(v)) this.fail(path, what, v);
    return v;
  }

  /** A {key: weight} map with non-negative weights, at least one positive; keys checked by `keyOk`. */
  weights(v: unknown, path: string, keyOk: (k: string) => boolean, keyWhat: string): Record<string, number> {
    const o = this.obj(v, path);
    const out: Record<string, number> = {};
    let total = 0;
    for (const [k, w] of Object.entries(o)) {
      if (!keyOk(k)) this.fail(`${path}.${k}`, keyWhat);
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) this.fail(`${path}.${k}`, 'must be a non-negative number', w);
      out[k] = w;
      total += w;
    }
    if (total <= 0) this.fail(path, 'needs at least one positive weight');
    return out;
  }
}

const COUNTRY = /^[A-Z]{2}$/;
const CURRENCY = /^[A-Z]{3}$/;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

function behaviour(v: V, o: Obj, p: string, def: Behaviour): Behaviour {
  const b = {
    switchCardWhenPrompted: v.prob(o, 'switchCardWhenPrompted', `${p}.switchCardWhenPrompted`, def.switchCardWhenPrompted),
    retrySameAfterDecline: v.prob(o, 'retrySameAfterDecline', `${p}.retrySameAfterDecline`, def.retrySameAfterDecline),
    switchCardAfterDecline: v.prob(o, 'switchCardAfterDecline', `${p}.switchCardAfterDecline`, def.switchCardAfterDecline),
    maxAttemptsPerOrder: v.num(o, 'maxAttemptsPerOrder', `${p}.maxAttemptsPerOrder`, 1, 20, def.maxAttemptsPerOrder, true),
  };
  if (b.retrySameAfterDecline + b.switchCardAfterDecline > 1) v.fail(`${p}.retrySameAfterDecline + switchCardAfterDecline`, 'must be at most 1', b.retrySameAfterDecline + b.switchCardAfterDecline);
  return b;
}

function hours(v: V, o: Obj, p: string, duration: number): { fromHour: number; toHour: number } {
  const fromHour = v.num(o, 'fromHour', `${p}.fromHour`, 0, duration);
  const toHour = v.num(o, 'toHour', `${p}.toHour`, 0, 1e6);
  if (toHour <= fromHour) v.fail(`${p}.toHour`, `must be after fromHour (${fromHour})`, toHour);
  return { fromHour, toHour };
}

const RATE_KEY = (k: string) => {
  const [a, b, ...rest] = k.split(':');
  if (rest.length > 0) return false;
  const region = (s: string) => s === 'domestic' || s === 'cross-border';
  if (b === undefined) return a === 'default' || region(a) || (BRANDS as readonly string[]).includes(a);
  return (BRANDS as readonly string[]).includes(a) && region(b);
};

/** Validates a parsed scenario object; `where` names it in errors (the file name). */
export function parseScenario(raw: unknown, where = 'scenario'): Scenario {
  const v: V = new V(where);
  const r = v.obj(raw, '(root)');
  v.known(r, '', ['name', 'description', 'seed', 'orders', 'durationHours', 'merchant', 'orderCurrencies', 'fx', 'amounts', 'cards', 'customers', 'fraud', 'gateways', 'chargeTechnicalFailures', 'declinePersistence', 'prompts', '$comment']);
  const name = v.str(r, 'name', 'name', NAME, 'must be 1-64 letters, digits, dot, dash or underscore');
  const description = typeof r.description === 'string' ? r.description : '';
  const seed = v.num(r, 'seed', 'seed', 0, 2 ** 32 - 1, undefined, true);
  const orders = v.num(r, 'orders', 'orders', 1, 1_000_000, undefined, true);
  const durationHours = v.num(r, 'durationHours', 'durationHours', 0.01, 24 * 365);

  const m = v.obj(r.merchant, 'merchant');
  v.known(m, 'merchant', ['country', 'currency']);
  const merchant = {
    country: v.str(m, 'country', 'merchant.country', COUNTRY, 'must be an ISO 3166-1 alpha-2 code such as "DE"'),
    currency: v.str(m, 'currency', 'merchant.currency', CURRENCY, 'must be an ISO 4217 code such as "EUR"'),
  };
  const orderCurrencies = r.orderCurrencies === undefined ? { [merchant.currency]: 1 } : v.weights(r.orderCurrencies, 'orderCurrencies', (k) => CURRENCY.test(k), 'must be an ISO 4217 code');
  const fx: Record<string, number> = { [merchant.currency]: 1 };
  if (r.fx !== undefined) {
    const f = v.obj(r.fx, 'fx');
    for (const k of Object.keys(f)) {
      if (!CURRENCY.test(k)) v.fail(`fx.${k}`, 'must be an ISO 4217 code');
      fx[k] = v.num(f, k, `fx.${k}`, 1e-6, 1e6);
    }
  }
  for (const c of Object.keys(orderCurrencies)) if (fx[c] === undefined) v.fail(`fx.${c}`, `is required for order currency ${c}`);

  const a = v.obj(r.amounts, 'amounts');
  v.known(a, 'amounts', ['median', 'sigma', 'min', 'max']);
  const amounts = {
    median: v.num(a, 'median', 'amounts.median', 1, 1e9),
    sigma: v.num(a, 'sigma', 'amounts.sigma', 0, 5),
    min: v.num(a, 'min', 'amounts.min', 1, 1e9, undefined, true),
    max: v.num(a, 'max', 'amounts.max', 1, 1e11, undefined, true),
  };
  if (amounts.max < amounts.min) v.fail('amounts.max', `must be at least amounts.min (${amounts.min})`, amounts.max);

  const c = v.obj(r.cards, 'cards');
  v.known(c, 'cards', ['brands', 'issuerCountries', 'states', 'lowBalance', 'overLimit', 'issuerUnavailableRate', 'cardsPerCustomer']);
  const states = v.weights(c.states, 'cards.states', (k) => (CARD_STATES as readonly string[]).includes(k), `is not a card state (known: ${CARD_STATES.join(', ')})`);
  const logN = (x: unknown, p: string) => {
    const o = v.obj(x, p);
    v.known(o, p, ['median', 'sigma']);
    return { median: v.num(o, 'median', `${p}.median`, 1, 1e11), sigma: v.num(o, 'sigma', `${p}.sigma`, 0, 5) };
  };
  const cards = {
    brands: v.weights(c.brands, 'cards.brands', (k) => (BRANDS as readonly string[]).includes(k), `is not a supported brand (supported: ${BRANDS.join(', ')})`),
    issuerCountries: v.weights(c.issuerCountries, 'cards.issuerCountries', (k) => COUNTRY.test(k), 'must be an ISO 3166-1 alpha-2 code'),
    states: Object.fromEntries(CARD_STATES.map((s) => [s, states[s] ?? 0])) as Record<LegitCardState, number>,
    lowBalance: logN(c.lowBalance, 'cards.lowBalance'),
    overLimit: logN(c.overLimit, 'cards.overLimit'),
    issuerUnavailableRate: v.prob(c, 'issuerUnavailableRate', 'cards.issuerUnavailableRate'),
    cardsPerCustomer: v.weights(c.cardsPerCustomer, 'cards.cardsPerCustomer', (k) => /^[1-9]$/.test(k), 'must be a count from 1 to 9'),
  };

  const cu = v.obj(r.customers, 'customers');
  v.known(cu, 'customers', ['repeatShare', 'switchCardWhenPrompted', 'retrySameAfterDecline', 'switchCardAfterDecline', 'maxAttemptsPerOrder', 'enableInternationalWhenPrompted', 'reduceAmountWhenPrompted', 'reduceAmountTo', 'retryLaterWhenPrompted', 'retryLaterMinutes', 'threeDsCompletion']);
  const customers = {
    ...behaviour(v, cu, 'customers', { switchCardWhenPrompted: NaN, retrySameAfterDecline: NaN, switchCardAfterDecline: NaN, maxAttemptsPerOrder: NaN } as Behaviour),
    repeatShare: v.prob(cu, 'repeatShare', 'customers.repeatShare'),
    enableInternationalWhenPrompted: v.prob(cu, 'enableInternationalWhenPrompted', 'customers.enableInternationalWhenPrompted'),
    reduceAmountWhenPrompted: v.prob(cu, 'reduceAmountWhenPrompted', 'customers.reduceAmountWhenPrompted'),
    reduceAmountTo: v.num(cu, 'reduceAmountTo', 'customers.reduceAmountTo', 0.05, 1),
    retryLaterWhenPrompted: v.prob(cu, 'retryLaterWhenPrompted', 'customers.retryLaterWhenPrompted'),
    retryLaterMinutes: v.num(cu, 'retryLaterMinutes', 'customers.retryLaterMinutes', 0, 10_000),
    threeDsCompletion: v.prob(cu, 'threeDsCompletion', 'customers.threeDsCompletion'),
  };
  for (const k of ['switchCardWhenPrompted', 'retrySameAfterDecline', 'switchCardAfterDecline', 'maxAttemptsPerOrder'] as const) {
    if (Number.isNaN(customers[k])) v.fail(`customers.${k}`, 'is required');
  }

  const f = v.obj(r.fraud, 'fraud');
  v.known(f, 'fraud', ['share', 'waves', 'fraudsterReuse', 'cardsPerOrder', 'cardStates', 'issuerApproveRate', 'threeDsPassRate', 'switchCardWhenPrompted', 'retrySameAfterDecline', 'switchCardAfterDecline', 'maxAttemptsPerOrder']);
  const wavesRaw = f.waves ?? [];
  if (!Array.isArray(wavesRaw)) v.fail('fraud.waves', 'must be an array', wavesRaw);
  const fstates = v.weights(f.cardStates, 'fraud.cardStates', (k) => (FRAUD_CARD_STATES as readonly string[]).includes(k), `is not a fraud card state (known: ${FRAUD_CARD_STATES.join(', ')})`);
  const fraud = {
    ...behaviour(v, f, 'fraud', { switchCardWhenPrompted: 0.9, retrySameAfterDecline: 0.1, switchCardAfterDecline: 0.85, maxAttemptsPerOrder: 6 }),
    share: v.prob(f, 'share', 'fraud.share'),
    waves: wavesRaw.map((w, i) => {
      const p = `fraud.waves[${i}]`;
      const o = v.obj(w, p);
      v.known(o, p, ['fromHour', 'toHour', 'share']);
      return { ...hours(v, o, p, durationHours), share: v.prob(o, 'share', `${p}.share`) };
    }),
    fraudsterReuse: v.prob(f, 'fraudsterReuse', 'fraud.fraudsterReuse'),
    cardsPerOrder: v.num(f, 'cardsPerOrder', 'fraud.cardsPerOrder', 1, 20, undefined, true),
    cardStates: Object.fromEntries(FRAUD_CARD_STATES.map((s) => [s, fstates[s] ?? 0])) as Record<FraudCardState, number>,
    issuerApproveRate: v.prob(f, 'issuerApproveRate', 'fraud.issuerApproveRate'),
    threeDsPassRate: v.prob(f, 'threeDsPassRate', 'fraud.threeDsPassRate'),
  };

  if (!Array.isArray(r.gateways) || r.gateways.length < 1) v.fail('gateways', 'must be a non-empty array', r.gateways);
  const seen = new Set<string>();
  const gateways: GatewaySpec[] = (r.gateways as unknown[]).map((g, i) => {
    const p = `gateways[${i}]`;
    const o = v.obj(g, p);
    v.known(o, p, ['name', 'feeFixed', 'feeBps', 'successRates', 'fraudScreen', 'technicalFailureRate', 'drift', 'outages']);
    const name = v.str(o, 'name', `${p}.name`, /^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, dot, dash or underscore');
    if (seen.has(name)) v.fail(`${p}.name`, 'is used by another gateway', name);
    seen.add(name);
    const sr = v.obj(o.successRates, `${p}.successRates`);
    const successRates: Record<string, number> = {};
    for (const k of Object.keys(sr)) {
      if (!RATE_KEY(k)) v.fail(`${p}.successRates.${k}`, 'is not a segment key (default, domestic, cross-border, <brand>, <brand>:<domestic|cross-border>)');
      successRates[k] = v.prob(sr, k, `${p}.successRates.${k}`);
    }
    if (successRates.default === undefined) v.fail(`${p}.successRates.default`, 'is required');
    const list = (x: unknown, lp: string) => {
      if (x === undefined) return [];
      if (!Array.isArray(x)) v.fail(lp, 'must be an array', x);
      return x.map((e, j) => [v.obj(e, `${lp}[${j}]`), `${lp}[${j}]`] as const);
    };
    const drift = list(o.drift, `${p}.drift`).map(([d, dp]) => {
      v.known(d, dp, ['fromHour', 'toHour', 'delta', 'segment']);
      const seg = d.segment;
      if (seg !== undefined && (typeof seg !== 'string' || !RATE_KEY(seg))) v.fail(`${dp}.segment`, 'is not a segment key', seg);
      return { ...hours(v, d, dp, durationHours), delta: v.num(d, 'delta', `${dp}.delta`, -1, 1), ...(seg !== undefined ? { segment: seg as string } : {}) };
    });
    const outages = list(o.outages, `${p}.outages`).map(([d, dp]) => {
      v.known(d, dp, ['fromHour', 'toHour', 'failureRate']);
      return { ...hours(v, d, dp, durationHours), failureRate: v.prob(d, 'failureRate', `${dp}.failureRate`) };
    });
    return {
      name,
      feeFixed: v.num(o, 'feeFixed', `${p}.feeFixed`, 0, 1e9, undefined, true),
      feeBps: v.num(o, 'feeBps', `${p}.feeBps`, 0, 10_000, undefined, true),
      successRates,
      fraudScreen: v.prob(o, 'fraudScreen', `${p}.fraudScreen`, 0),
      technicalFailureRate: v.prob(o, 'technicalFailureRate', `${p}.technicalFailureRate`, 0),
      drift,
      outages,
    };
  });

  const chargeTechnicalFailures = r.chargeTechnicalFailures === undefined ? true : r.chargeTechnicalFailures;
  if (typeof chargeTechnicalFailures !== 'boolean') v.fail('chargeTechnicalFailures', 'must be true or false', chargeTechnicalFailures);
  const declinePersistence = v.prob(r, 'declinePersistence', 'declinePersistence', 0.7);
  const prompts: Record<string, string> = {};
  if (r.prompts !== undefined) {
    const po = v.obj(r.prompts, 'prompts');
    for (const [k, t] of Object.entries(po)) {
      if (!/^[a-z0-9_]{1,64}$/.test(k)) v.fail(`prompts.${k}`, 'must be a prompt code (a-z, 0-9, _)');
      if (typeof t !== 'string' || t.length < 1 || t.length > 1024) v.fail(`prompts.${k}`, 'must be a text of 1-1024 characters', t);
      prompts[k] = t;
    }
  }

  return { name, description, seed, orders, durationHours, merchant, orderCurrencies, fx, amounts, cards, customers, fraud, gateways, chargeTechnicalFailures, declinePersistence, prompts };
}

/** Reads and validates a scenario file; every failure is a one-line ScenarioError. */
export function loadScenario(file: string): Scenario {
  const where = path.basename(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(`${where}: cannot read scenario file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(`${where}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return parseScenario(raw, where);
}
