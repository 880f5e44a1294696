// fast-check generators for dataset content (shared by the dataset tests).
import fc from 'fast-check';
import type { DatasetContent, HistoryEvent } from '../../../protocol/dataset/types.ts';
import { buildFuseFilter } from '../../../protocol/dataset/fuse-filter.ts';

export const tokenArb = fc.uint8Array({ minLength: 16, maxLength: 16 });
const hexKey = (t: Uint8Array) => Buffer.from(t).toString('hex');
const word = fc.stringMatching(/^[a-z_]{1,12}$/);
const currency = fc.constantFrom('USD', 'EUR', 'CNY', 'GBP');

export const eventArb: fc.Arbitrary<HistoryEvent> = fc.record(
  {
    at: fc.integer({ min: 0, max: 2_000_000_000 }),
    amount: fc.integer({ min: 0, max: 10_000_000 }),
    currency,
    status: fc.constantFrom('success' as const, 'failure' as const),
    code: fc.constantFrom('05', '51', '57', '04', 'R0', 'N7'),
    type: fc.constantFrom('hard' as const, 'soft' as const, 'technical' as const, 'fraud' as const),
    advice: fc.constantFrom('03', '21', '24'),
    gateway: fc.constantFrom('gw-a', 'gw-b'),
    crossBorder: fc.boolean(),
  },
  { requiredKeys: ['at', 'amount', 'currency', 'status'] },
);

export const filterArb = fc.uniqueArray(fc.uint8Array({ minLength: 16, maxLength: 16 }), { selector: (t) => Buffer.from(t).toString('hex'), maxLength: 40 }).map(buildFuseFilter);

export const contentArb: fc.Arbitrary<DatasetContent> = fc.record({
  restrictedFilter: filterArb,
  restricted: fc.uniqueArray(fc.record({ token: tokenArb, reason: fc.constantFrom('stolen', 'fraud', 'chargeback') }), {
    selector: (r) => hexKey(r.token),
    maxLength: 30,
  }),
  knownGood: fc.uniqueArray(fc.record({ token: tokenArb }), { selector: (r) => hexKey(r.token), maxLength: 20 }),
  history: fc.uniqueArray(
    fc.record(
      { token: tokenArb, brand: fc.constantFrom('visa', 'mastercard', 'unionpay'), events: fc.array(eventArb, { maxLength: 5 }) },
      { requiredKeys: ['token', 'events'] },
    ),
    { selector: (r) => hexKey(r.token), maxLength: 10 },
  ),
  binRules: fc.uniqueArray(
    fc.record({ prefix: fc.stringMatching(/^[0-9]{1,8}$/), action: fc.constantFrom('decline' as const, 'review' as const), reason: word }),
    { selector: (r) => r.prefix, maxLength: 8 },
  ),
  prompts: fc.uniqueArray(
    fc.record({ code: word, lang: fc.constantFrom('en', 'zh', 'zh-CN', 'fr'), message: fc.string({ minLength: 1, maxLength: 40 }) }),
    { selector: (p) => `${p.code}|${p.lang}`, maxLength: 8 },
  ),
  // format 1 routes (brand × currency) and, in some contents, format 2 segment routes and health
  routes: fc.uniqueArray(
    fc.record(
      {
        brand: fc.constantFrom('visa', 'mastercard', 'jcb'),
        currency,
        region: fc.constantFrom('dom' as const, 'xb' as const),
        band: fc.constantFrom('lt20' as const, '20-100' as const, '100-500' as const, 'gt500' as const),
        gateway: fc.constantFrom('gw-a', 'gw-b', 'gw-c'),
        successRate: fc.double({ min: 0, max: 1, noNaN: true }),
        rank: fc.integer({ min: 0, max: 255 }),
      },
      { requiredKeys: ['brand', 'currency', 'gateway', 'successRate'] },
    ),
    { selector: (r) => `${r.brand}|${r.currency}|${r.region ?? ''}|${r.band ?? ''}|${r.gateway}`, maxLength: 8 },
  ),
  gatewayHealth: fc.uniqueArray(fc.record({ gateway: fc.constantFrom('gw-a', 'gw-b', 'gw-c', 'gw-d'), eliminatedUntil: fc.integer({ min: 0, max: 2 ** 32 - 1 }) }), {
    selector: (h) => h.gateway,
    maxLength: 3,
  }),
  // format 3: floor limits for unknown cards (never empty when present)
  floorLimits: fc.record({
    maxApprovals: fc.integer({ min: 1, max: 1_000_000 }),
    windowSeconds: fc.integer({ min: 60, max: 7 * 86_400 }),
    limits: fc.uniqueArray(
      fc.record({
        brand: fc.constantFrom('visa', 'mastercard', 'jcb'),
        currency,
        region: fc.constantFrom('dom' as const, 'xb' as const),
        limit: fc.integer({ min: 1, max: 0xffffffff }),
      }),
      { selector: (f) => `${f.brand}|${f.currency}|${f.region}`, minLength: 1, maxLength: 6 },
    ),
  }),
}, { requiredKeys: ['restricted', 'knownGood', 'history', 'binRules', 'prompts', 'routes'] });
