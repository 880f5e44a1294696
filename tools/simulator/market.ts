// The simulated market, generated ONCE per run from the scenario and its seed: cards with hidden
// states, legitimate customers with wallets, fraudsters with stashes of stolen cards, and the order
// stream. Both arms of a run get this same object, so they see the same orders in the same order
// with the same cards. Card numbers are synthetic (valid Luhn, brand prefixes) and live only in
// memory: they go into HTTP requests to the local bridge, never to a file or a log.
import { Rng } from './prng.ts';
import type { Brand, CardState, LegitCardState, Scenario } from './scenario.ts';
import { luhnComplete } from '../../contracts/pan-guard.ts';

export interface SimCard {
  /** Stable id for accounting and logs (c17); never the number. */
  id: string;
  /** Synthetic PAN (memory only). */
  pan: string;
  expMonth: number;
  expYear: number;
  brand: Brand;
  issuerCountry: string;
  state: CardState;
  /** low_balance: available funds; over_limit: per-transaction limit (reporting minor units). */
  ceiling: number | null;
  /** intl_disabled: 57 or 62; stolen_lost: 41 or 43. */
  declineCode: string | null;
  fraudster: boolean;
}

export interface SimCustomer {
  id: string;
  fraudster: boolean;
  country: string;
  deviceId: string;
  ip: string;
  cards: SimCard[];
}

export interface SimOrder {
  /** o000001 ... (an arm may prefix it with a run id for a bridge's order table). */
  id: string;
  index: number;
  /** Seconds since the start of the run (simulated time). */
  t: number;
  customer: SimCustomer;
  fraud: boolean;
  currency: string;
  /** Order amount in minor units of `currency`. */
  amount: number;
  /** The same amount in reporting-currency minor units (fees and totals are counted in these). */
  amountReporting: number;
  /** The cards the customer will use, in the order they reach for them. */
  cards: SimCard[];
}

export interface Market {
  scenario: Scenario;
  cards: SimCard[];
  customers: SimCustomer[];
  orders: SimOrder[];
}

/** A BIN per brand × issuing country, so cards of one issuer country share a range, as real BINs do. */
function binFor(brand: Brand, country: string, seed: number): string {
  const r = new Rng(seed, 'bin', brand, country);
  const digits = (n: number) => Array.from({ length: n }, () => r.int(10)).join('');
  if (brand === 'visa') return `4${digits(5)}`;
  if (brand === 'mastercard') return `5${1 + r.int(5)}${digits(4)}`;
  return `3${r.chance(0.5) ? 4 : 7}${digits(4)}`;
}

function makePan(brand: Brand, bin: string, r: Rng): string {
  const len = brand === 'american-express' ? 15 : 16;
  let body = bin;
  while (body.length < len - 1) body += String(r.int(10));
  return luhnComplete(body);
}

/** Fraud share at simulated hour h: the base share, or the highest wave covering h. */
export function fraudShareAt(s: Scenario, hour: number): number {
  let share = s.fraud.share;
  for (const w of s.fraud.waves) if (hour >= w.fromHour && hour < w.toHour) share = Math.max(share, w.share);
  return share;
}

export function buildMarket(s: Scenario, opts: { orders?: number } = {}): Market {
  const nOrders = opts.orders ?? s.orders;
  const seed = s.seed;
  const cards: SimCard[] = [];
  const pans = new Set<string>();
  const cardRng = new Rng(seed, 'cards');
  const nowYear = new Date().getUTCFullYear();

  const newCard = (fraudster: boolean, state: CardState, country: string): SimCard => {
    const brand = cardRng.weighted(s.cards.brands) as Brand;
    const bin = binFor(brand, country, seed);
    let pan = makePan(brand, bin, cardRng);
    while (pans.has(pan)) pan = makePan(brand, bin, cardRng);
    pans.add(pan);
    let ceiling: number | null = null;
    let declineCode: string | null = null;
    if (state === 'low_balance') ceiling = Math.round(cardRng.logNormal(s.cards.lowBalance.median, s.cards.lowBalance.sigma));
    if (state === 'over_limit') ceiling = Math.round(cardRng.logNormal(s.cards.overLimit.median, s.cards.overLimit.sigma));
    if (state === 'intl_disabled') declineCode = cardRng.chance(0.7) ? '57' : '62';
    if (state === 'stolen_lost') declineCode = cardRng.chance(0.5) ? '41' : '43';
    const card: SimCard = {
      id: `c${cards.length + 1}`,
      pan,
      expMonth: 1 + cardRng.int(12),
      expYear: nowYear + 1 + cardRng.int(4),
      brand,
      issuerCountry: country,
      state,
      ceiling,
      declineCode,
      fraudster,
    };
    cards.push(card);
    return card;
  };

  const customers: SimCustomer[] = [];
  const legit: SimCustomer[] = [];
  const fraudsters: SimCustomer[] = [];
  const custRng = new Rng(seed, 'customers');
  const ipOf = (r: Rng) => `10.${r.int(256)}.${r.int(256)}.${1 + r.int(254)}`;
  const newLegit = (): SimCustomer => {
    const country = custRng.weighted(s.cards.issuerCountries);
    const n = Number(custRng.weighted(s.cards.cardsPerCustomer));
    const wallet: SimCard[] = [];
    for (let i = 0; i < n; i++) {
      // Second cards are mostly from the same country; a few from another (expats, travel cards).
      const cc = i === 0 || custRng.chance(0.8) ? country : custRng.weighted(s.cards.issuerCountries);
      wallet.push(newCard(false, custRng.weighted(s.cards.states) as LegitCardState, cc));
    }
    const c: SimCustomer = { id: `u${customers.length + 1}`, fraudster: false, country, deviceId: `d${customers.length + 1}`, ip: ipOf(custRng), cards: wallet };
    customers.push(c);
    legit.push(c);
    return c;
  };
  const newFraudster = (): SimCustomer => {
    const c: SimCustomer = { id: `u${customers.length + 1}`, fraudster: true, country: custRng.weighted(s.cards.issuerCountries), deviceId: `d${customers.length + 1}`, ip: ipOf(custRng), cards: [] };
    customers.push(c);
    fraudsters.push(c);
    return c;
  };

  // Arrival times: sorted uniform draws over the run (a Poisson process conditioned on its count).
  const timeRng = new Rng(seed, 'times');
  const times = Array.from({ length: nOrders }, () => timeRng.next() * s.durationHours * 3600).sort((a, b) => a - b);

  const orderRng = new Rng(seed, 'orders');
  const orders: SimOrder[] = [];
  for (let i = 0; i < nOrders; i++) {
    const t = Math.floor(times[i]);
    const fraud = orderRng.chance(fraudShareAt(s, t / 3600));
    let customer: SimCustomer;
    let orderCards: SimCard[];
    if (fraud) {
      customer = fraudsters.length > 0 && orderRng.chance(s.fraud.fraudsterReuse) ? fraudsters[orderRng.int(fraudsters.length)] : newFraudster();
      // Fraudsters burn through stolen cards: fresh ones for every order.
      orderCards = [];
      for (let k = 0; k < s.fraud.cardsPerOrder; k++) {
        const st = orderRng.weighted(s.fraud.cardStates);
        const country = orderRng.weighted(s.cards.issuerCountries);
        const card = newCard(true, st === 'fraud' ? 'fraud' : 'stolen_lost', country);
        customer.cards.push(card);
        orderCards.push(card);
      }
    } else {
      customer = legit.length > 0 && orderRng.chance(s.customers.repeatShare) ? legit[orderRng.int(legit.length)] : newLegit();
      // The customer reaches for a preferred card first (a random one of the wallet), then the rest in wallet order.
      const start = orderRng.int(customer.cards.length);
      orderCards = customer.cards.map((_, k) => customer.cards[(start + k) % customer.cards.length]);
    }
    const currency = orderRng.weighted(s.orderCurrencies);
    const amountReporting = Math.min(s.amounts.max, Math.max(s.amounts.min, Math.round(orderRng.logNormal(s.amounts.median, s.amounts.sigma))));
    const amount = Math.max(1, Math.round(amountReporting / s.fx[currency]));
    orders.push({ id: `o${String(i + 1).padStart(6, '0')}`, index: i, t, customer, fraud, currency, amount, amountReporting, cards: orderCards });
  }
  return { scenario: s, cards, customers, orders };
}
