// The demo dataset `precheck up` seeds on first start. Card numbers are the card networks'
// public test numbers (they pass Luhn and belong to no one); they live in code only and are never
// written to a file or log: the service tokenises the restricted ones on arrival, and the history
// is made by verifying the cards through the bridge (which sends only token, BIN and last four)
// and reporting outcomes for those orders.
import type { FinalDecision } from '../../rules/decide.ts';
import type { HistoryStatus } from '../../protocol/dataset/types.ts';

export type DemoPath = 'approve' | 'restricted' | 'hard' | 'soft' | 'new';

export interface DemoCard {
  path: DemoPath;
  /** Public test number (Visa/Mastercard test ranges). */
  pan: string;
  /** What the first verification after seeding answers, for the summary and the tests. */
  expect: { decision: FinalDecision; stage: 'local' | 'network'; reason?: string };
  what: string;
}

export const DEMO_CARDS: Record<DemoPath, DemoCard> = {
  approve: {
    path: 'approve',
    pan: '4242424242424242',
    expect: { decision: 'approve', stage: 'local', reason: 'known_good' },
    what: 'paid successfully before (known-good) -> approve, on the device',
  },
  restricted: {
    path: 'restricted',
    pan: '4000056655665556',
    expect: { decision: 'decline', stage: 'local', reason: 'restricted' },
    what: 'on the restricted list -> decline, on the device',
  },
  hard: {
    path: 'hard',
    pan: '5105105105105100',
    expect: { decision: 'decline', stage: 'local' },
    what: 'a hard decline (04 pick up card) was reported -> decline, on the device',
  },
  soft: {
    path: 'soft',
    pan: '5555555555554444',
    expect: { decision: 'review', stage: 'local', reason: 'soft_decline' },
    what: 'soft decline (51 insufficient funds) in its history -> review with a prompt, on the device',
  },
  new: {
    path: 'new',
    pan: '4111111111111111',
    expect: { decision: 'approve', stage: 'network' },
    what: 'never seen -> the device escalates, the network service decides (new-card trust)',
  },
};

/** Extra public test numbers the tour and the tests use for "report an outcome, then sync". */
export const SPARE_TEST_CARDS = {
  visa: '4012888888881881',
  amex: '378282246310005',
  mastercard: '2223003122003222',
} as const;

/** Restricted cards imported through the service's admin path (CSV number,reason). */
export const DEMO_RESTRICTED: { pan: string; reason: string }[] = [
  { pan: DEMO_CARDS.restricted.pan, reason: 'reported_stolen' },
  // Two more so the list is a list: Mastercard debit and American Express test numbers.
  { pan: '5200828282828210', reason: 'chargeback_fraud' },
  { pan: '371449635398431', reason: 'account_closed' },
];

/** Outcomes reported through the bridge after verifying each card once (history). */
export const DEMO_OUTCOMES: { path: DemoPath; gateway: string; status: HistoryStatus; code?: string; type?: 'hard' | 'soft' }[] = [
  { path: 'approve', gateway: 'stripe', status: 'success' },
  { path: 'hard', gateway: 'adyen', status: 'failure', code: '04', type: 'hard' },
  { path: 'soft', gateway: 'stripe', status: 'failure', code: '51', type: 'soft' },
];

export const DEMO_GATEWAYS = [
  { name: 'stripe', feePerAttempt: 30, feeBps: 290 },
  { name: 'adyen', feePerAttempt: 12, feeBps: 260 },
];

/** Prompt texts in English and Chinese (they override the built-in defaults). */
export const DEMO_PROMPTS = [
  { code: 'try_smaller_amount', lang: 'en', message: 'Your bank did not approve this amount. Try a smaller amount or another card.' },
  { code: 'try_smaller_amount', lang: 'zh', message: '您的银行未批准此金额。请尝试较小的金额或换一张卡。' },
  { code: 'use_another_card', lang: 'en', message: 'This card cannot be used here. Please pay with another card.' },
  { code: 'use_another_card', lang: 'zh', message: '此卡无法在此使用，请换一张卡支付。' },
  { code: 'enable_international', lang: 'en', message: 'Please ask your bank to enable international payments on this card, or use another card.' },
  { code: 'enable_international', lang: 'zh', message: '请联系您的银行为此卡开通境外支付，或换一张卡。' },
];

export const DEMO_MERCHANT = 'demo-shop';
/** The demo orders: EUR, shipped to Germany, merchant in Germany. */
export const DEMO_ORDER = { currency: 'EUR', country: 'DE', amount: 2500 } as const;
export const DEMO_EXPIRY = { expMonth: 12, expYear: 2030 } as const;

/** The one-line curl printed for the demo (the known-good Visa test card). */
export function verifyCurl(bridgeUrl: string, pan: string = DEMO_CARDS.approve.pan, orderId = 'demo-1'): string {
  const body = JSON.stringify({
    card: { number: pan, ...DEMO_EXPIRY },
    order: { id: orderId, amount: { value: DEMO_ORDER.amount, currency: DEMO_ORDER.currency }, country: DEMO_ORDER.country },
  });
  return `curl -s -X POST ${bridgeUrl}/v1/verify -H 'content-type: application/json' -d '${body}'`;
}
