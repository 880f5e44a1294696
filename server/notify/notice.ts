// The payment notice: what was paid, where and when, in the payer's language, plus the
// personalised items the rules chose. Card data is the brand and the last four digits, never more:
// buildNotice refuses anything else (and the payload is checked for PAN-like text before queuing).
import { minorDigits } from '../../contracts/currency.ts';
import { ServiceError } from '../errors.ts';
import { containsPan } from '../../contracts/pan-guard.ts';
import type { PersonalItem } from './rules.ts';

export const NOTICE_EVENT = 'payment.notice';

export interface NoticeInput {
  orderId: string;
  merchantName: string;
  amount: number;
  currency: string;
  /** Unix seconds of the payment. */
  at: number;
  brand: string | null;
  last4: string;
  lang: string;
  terminal: { id: string; category: string };
  items: PersonalItem[];
  ruleSetVersion: number;
}

export interface NoticePayload {
  type: typeof NOTICE_EVENT;
  timestamp: string;
  data: {
    orderId: string;
    merchant: string;
    amount: { value: number; currency: string; formatted: string };
    paidAt: string;
    card: { brand: string | null; last4: string };
    terminal: { id: string; category: string };
    lang: string;
    text: string;
    items: (PersonalItem & { formattedPrice: string })[];
    ruleSetVersion: number;
  };
}

interface Phrases {
  paid: (a: { amount: string; merchant: string; time: string; card: string }) => string;
  nearby: string;
  km: string;
}

// Wording per language; the formatting of money, dates and distances is Intl's (CLDR).
const PHRASES: Record<string, Phrases> = {
  en: { paid: (a) => `You paid ${a.amount} at ${a.merchant} on ${a.time} with ${a.card}.`, nearby: 'Nearby prices', km: 'km' },
  de: { paid: (a) => `Sie haben am ${a.time} bei ${a.merchant} ${a.amount} mit ${a.card} bezahlt.`, nearby: 'Preise in der Nähe', km: 'km' },
  fr: { paid: (a) => `Vous avez payé ${a.amount} chez ${a.merchant} le ${a.time} avec ${a.card}.`, nearby: 'Prix à proximité', km: 'km' },
  es: { paid: (a) => `Ha pagado ${a.amount} en ${a.merchant} el ${a.time} con ${a.card}.`, nearby: 'Precios cercanos', km: 'km' },
  zh: { paid: (a) => `您于${a.time}在${a.merchant}使用${a.card}支付了${a.amount}。`, nearby: '附近同类商品价格', km: '公里' },
  ja: { paid: (a) => `${a.time}に${a.merchant}で${a.card}により${a.amount}をお支払いいただきました。`, nearby: '近くの価格', km: 'km' },
};

/** The supported language closest to a BCP 47 tag (zh-CN → zh), English otherwise. */
export function noticeLanguage(tag: string): string {
  const base = tag.toLowerCase().split('-')[0];
  return base in PHRASES ? base : 'en';
}

// Intl formatters are costly to build (CLDR lookups): one per language × currency / style, kept.
const formatters = new Map<string, { format(n: number | Date): string }>();
function formatter(key: string, make: () => { format(n: number | Date): string }) {
  let f = formatters.get(key);
  if (!f) {
    if (formatters.size > 1000) formatters.clear();
    formatters.set(key, (f = make()));
  }
  return f;
}

export function formatMoney(minor: number, currency: string, lang: string): string {
  const digits = minorDigits(currency);
  try {
    return formatter(`m\u0000${lang}\u0000${currency}`, () => new Intl.NumberFormat(lang, { style: 'currency', currency })).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

const BRAND_NAMES: Record<string, string> = { visa: 'Visa', mastercard: 'Mastercard', 'american-express': 'American Express', unionpay: 'UnionPay', jcb: 'JCB', discover: 'Discover', 'diners-club': 'Diners Club', maestro: 'Maestro' };

export function buildNotice(n: NoticeInput, now: Date): NoticePayload {
  if (!/^[0-9]{4}$/.test(n.last4)) throw new ServiceError('INVALID_FIELD', 'last4 must be four digits');
  const lang = noticeLanguage(n.lang);
  const ph = PHRASES[lang];
  const amount = formatMoney(n.amount, n.currency, n.lang);
  const time = formatter(`t\u0000${n.lang}`, () => new Intl.DateTimeFormat(n.lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })).format(new Date(n.at * 1000)) + ' UTC';
  const card = `${n.brand ? (BRAND_NAMES[n.brand] ?? n.brand) : 'card'} •••• ${n.last4}`;
  const items = n.items.map((i) => ({ ...i, formattedPrice: formatMoney(i.price.value, i.price.currency, n.lang) }));
  const km = formatter(`k\u0000${n.lang}`, () => new Intl.NumberFormat(n.lang, { maximumFractionDigits: 1 }));
  const lines = [ph.paid({ amount, merchant: n.merchantName, time, card })];
  if (items.length > 0) {
    lines.push(`${ph.nearby}:`);
    for (const i of items) lines.push(`- ${i.merchant} (${km.format(i.distanceKm)} ${ph.km}): ${i.item} ${i.formattedPrice}`);
  }
  const payload: NoticePayload = {
    type: NOTICE_EVENT,
    timestamp: now.toISOString(),
    data: {
      orderId: n.orderId,
      merchant: n.merchantName,
      amount: { value: n.amount, currency: n.currency, formatted: amount },
      paidAt: new Date(n.at * 1000).toISOString(),
      card: { brand: n.brand, last4: n.last4 },
      terminal: n.terminal,
      lang,
      text: lines.join('\n'),
      items,
      ruleSetVersion: n.ruleSetVersion,
    },
  };
  // Defence in depth: catalogue text or a merchant name must never smuggle a card number out.
  if (containsPan(JSON.stringify(payload)) || containsPan(payload.data.text)) throw new ServiceError('PAN_REJECTED', 'notice would contain a card number');
  return payload;
}
