// Network authentication over real HTTP: each decision rule, prompts, gateway choice, PAN refusal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authBody, outcomeBody, randomToken, startHarness, type Harness } from './helpers.ts';

let h: Harness;
beforeAll(async () => {
  // Medium trust (a card with no customer context under the prior model) → limit 100.00 USD;
  // no exploration, so gateway picks are deterministic.
  h = await startHarness({ trustLimitsUsd: { medium: 100 }, routing: { explorationShare: 0 } });
});
afterAll(async () => {
  await h?.close();
});

async function auth(token: string, over: Record<string, unknown> = {}, order: Record<string, unknown> = {}, key?: string) {
  const r = await h.call('POST', '/v1/auth', authBody(token, over, order), key);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}
async function outcome(token: string, over: Record<string, unknown> = {}) {
  const r = await h.call('POST', '/v1/outcomes', outcomeBody(token, over));
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}

describe('POST /v1/auth decisions', () => {
  it('approves an unknown card below the new-card trust limit and asks for 3-D Secure above it', async () => {
    const a = await auth(randomToken());
    expect(a).toMatchObject({ decision: 'approve', reason: 'trust_ok', prompt: null, modelVersion: 'trust-prior-v1' });
    expect(a.trust).toMatchObject({ level: 'medium', limit: 10_000, modelVersion: 'trust-prior-v1' });
    expect(a.datasetVersion).toBe(1);
    const b = await auth(randomToken(), {}, { amount: { value: 10_001, currency: 'USD' } });
    expect(b).toMatchObject({ decision: 'review', reason: 'trust_limit_exceeded', detail: '3ds_required' });
    expect(b.prompt.code).toBe('authenticate');
  });

  it('declines a restricted card with the use-another-card prompt', async () => {
    const t = randomToken();
    expect((await h.admin('POST', '/v1/admin/restricted', { token: t, reason: 'stolen' })).status).toBe(200);
    const a = await auth(t);
    expect(a).toMatchObject({ decision: 'decline', reason: 'restricted', detail: 'stolen', gateway: null });
    expect(a.prompt).toMatchObject({ code: 'use_another_card', lang: 'en' });
    expect(a.prompt.message).toMatch(/another card/);
    // Removing it lifts the decline.
    expect((await h.admin('DELETE', `/v1/admin/restricted/${t}`)).status).toBe(200);
    expect((await auth(t)).decision).toBe('approve');
  });

  it('applies the longest matching BIN rule', async () => {
    await h.admin('POST', '/v1/admin/bin-rules', { prefix: '52', action: 'review', reason: 'risky_range' });
    await h.admin('POST', '/v1/admin/bin-rules', { prefix: '5200', action: 'decline', reason: 'blocked_issuer' });
    const review = await auth(randomToken(), { bin: '521234', brand: 'mastercard' });
    expect(review).toMatchObject({ decision: 'review', reason: 'bin_rule', detail: 'risky_range' });
    const decline = await auth(randomToken(), { bin: '520012', brand: 'mastercard' });
    expect(decline).toMatchObject({ decision: 'decline', reason: 'bin_rule', detail: 'blocked_issuer' });
  });

  it("a lost or stolen answer to one card of an order asks for 3-D Secure on the order's next new card", async () => {
    const [lost, next, other] = [randomToken(), randomToken(), randomToken()];
    const order = (id: string) => ({ id });
    const key = (n: string) => `checkout-evidence-${n}`; // fixed keys: no random digits for the PAN guard
    expect(await auth(lost, {}, order('co-1'))).toMatchObject({ decision: 'approve', reason: 'trust_ok' });
    await outcome(lost, { idempotencyKey: key('1'), orderId: 'co-1', status: 'failure', code: '43', type: 'hard' });
    const a = await auth(next, { last4: '2222' }, order('co-1'));
    expect(a).toMatchObject({ decision: 'review', reason: 'fraud_signal', detail: '3ds_required' });
    expect(a.prompt.code).toBe('authenticate');
    // Another order of the same (context-less) shopper is not touched; nor is a generic decline.
    expect(await auth(other, { last4: '3333' }, order('co-2'))).toMatchObject({ decision: 'approve', reason: 'trust_ok' });
    await outcome(other, { idempotencyKey: key('2'), orderId: 'co-2', status: 'failure', code: '05', type: 'soft' });
    expect(await auth(randomToken(), { last4: '4444' }, order('co-2'))).toMatchObject({ decision: 'approve', reason: 'trust_ok' });
  });

  it('hard decline: an outcome with a pick-up code restricts the card', async () => {
    const t = randomToken();
    const o = await outcome(t, { status: 'failure', code: '43', type: 'hard' });
    expect(o.restricted).toBe(true);
    expect(await auth(t)).toMatchObject({ decision: 'decline', reason: 'restricted', detail: '43' });
  });

  it('57 is reviewed with "enable international" on a cross-border order, declined otherwise', async () => {
    const t = randomToken();
    const o = await outcome(t, { status: 'failure', code: '57' });
    expect(o.restricted).toBe(false);
    const cross = await auth(t, {}, { crossBorder: true });
    expect(cross).toMatchObject({ decision: 'review', reason: 'international_disabled' });
    expect(cross.prompt.code).toBe('enable_international');
    const domestic = await auth(t, {}, { crossBorder: false });
    expect(domestic).toMatchObject({ decision: 'decline', reason: 'hard_decline', detail: '57' });
    // Cross-border also follows from order.country vs customer.ipCountry.
    const inferred = await auth(t, { customer: { ipCountry: 'CN' } }, { country: 'US' });
    expect(inferred.reason).toBe('international_disabled');
  });

  it('soft decline: review with the matching prompt, in the requested language', async () => {
    const t = randomToken();
    await outcome(t, { status: 'failure', code: '51', type: 'soft' });
    const en = await auth(t);
    expect(en).toMatchObject({ decision: 'review', reason: 'soft_decline', detail: '51' });
    expect(en.prompt.code).toBe('try_smaller_amount');
    const zh = await auth(t, { lang: 'zh-CN' });
    expect(zh.prompt.lang).toBe('zh');
    expect(zh.prompt.message).toMatch(/较小金额/);
    // An admin prompt overrides the built-in text.
    await h.admin('POST', '/v1/admin/prompts', { code: 'try_smaller_amount', lang: 'en', message: 'Custom: lower the amount.' });
    expect((await auth(t)).prompt.message).toBe('Custom: lower the amount.');
  });

  it('retry limit: the 10th Mastercard decline in 24 h declines', async () => {
    const t = randomToken();
    for (let i = 0; i < 9; i++) await outcome(t, { status: 'failure', code: '05', type: 'soft', brand: 'mastercard', bin: '555555', last4: '4444' });
    // 05 is generic, not a soft decline that is reviewed: nine of them are below the limit
    expect((await auth(t, { brand: 'mastercard', bin: '555555' })).reason).not.toBe('retry_limit');
    await outcome(t, { status: 'failure', code: '05', type: 'soft', brand: 'mastercard', bin: '555555', last4: '4444' });
    expect(await auth(t, { brand: 'mastercard', bin: '555555' })).toMatchObject({ decision: 'decline', reason: 'retry_limit', detail: '10/10' });
  });

  it('known-good is per merchant: another merchant gets the trust path', async () => {
    const t = randomToken();
    const o = await outcome(t, { status: 'success' });
    expect(o.knownGood).toBe(true);
    expect(await auth(t, {}, { amount: { value: 999_999, currency: 'USD' } })).toMatchObject({ decision: 'approve', reason: 'known_good', trust: null });
    const other = await h.s.issueKey('merchant-b');
    const b = await auth(t, {}, { amount: { value: 999_999, currency: 'USD' } }, other.key);
    expect(b).toMatchObject({ decision: 'review', reason: 'trust_limit_exceeded' });
    expect((await auth(t, {}, {}, other.key)).reason).toBe('trust_ok');
  });

  it('declines an expired card', async () => {
    const a = await auth(randomToken(), { expMonth: 1, expYear: 2020 });
    expect(a).toMatchObject({ decision: 'decline', reason: 'card_expired' });
    expect(a.prompt.code).toBe('check_card_details');
  });
});

describe('gateway recommendation', () => {
  it('picks the best success rate for brand + currency (the fee only between indistinguishable rates), value on request, else the cheapest', async () => {
    await h.admin('POST', '/v1/admin/gateways', { name: 'gw-a', feePerAttempt: 30, feeBps: 0 });
    await h.admin('POST', '/v1/admin/gateways', { name: 'gw-b', feePerAttempt: 10, feeBps: 0 });
    // EUR: gw-a 2/2, gw-b 1/2 -> gw-a whatever the amount: success first.
    await outcome(randomToken(), { currency: 'EUR', gateway: 'gw-a' });
    await outcome(randomToken(), { currency: 'EUR', gateway: 'gw-a' });
    await outcome(randomToken(), { currency: 'EUR', gateway: 'gw-b' });
    await outcome(randomToken(), { currency: 'EUR', gateway: 'gw-b', status: 'failure', code: '05', type: 'soft' });
    expect((await auth(randomToken(), {}, { amount: { value: 10_000, currency: 'EUR' } })).gateway).toBe('gw-a');
    expect((await auth(randomToken(), {}, { amount: { value: 100, currency: 'EUR' } })).gateway).toBe('gw-a');
    // The merchant's value objective at a 15% margin: gw-a on a 100.00 order (25 points of the
    // margin are worth 3.75 > 0.20 of extra fee), gw-b on a 1.00 order (0.0375 < 0.20).
    expect((await h.admin('PUT', '/v1/admin/merchants/merchant-a/routing', { objective: 'value', marginBps: 1500 })).status).toBe(200);
    expect((await auth(randomToken(), {}, { amount: { value: 10_000, currency: 'EUR' } })).gateway).toBe('gw-a');
    expect((await auth(randomToken(), {}, { amount: { value: 100, currency: 'EUR' } })).gateway).toBe('gw-b');
    await h.admin('PUT', '/v1/admin/merchants/merchant-a/routing', { objective: 'success' });
    // JPY: 1/1 each -> the cheaper gw-b.
    await outcome(randomToken(), { currency: 'JPY', gateway: 'gw-a' });
    await outcome(randomToken(), { currency: 'JPY', gateway: 'gw-b' });
    expect((await auth(randomToken(), {}, { amount: { value: 100, currency: 'JPY' } })).gateway).toBe('gw-b');
    // GBP: nothing observed -> cheapest registered.
    expect((await auth(randomToken(), {}, { amount: { value: 100, currency: 'GBP' } })).gateway).toBe('gw-b');
  });
});

describe('no card numbers accepted', () => {
  const pan = '4111111111111111';
  it.each([
    ['a pan field', (t: string) => ({ ...authBody(t), pan })],
    ['a number field', (t: string) => ({ ...authBody(t), number: '4000 0000 0000 0002' })],
    ['a PAN as order id', (t: string) => authBody(t, {}, { id: pan })],
    ['a spaced PAN in customer.accountId', (t: string) => authBody(t, { customer: { accountId: 'acct 4111-1111-1111-1111' } })],
    ['a PAN as a JSON number', (t: string) => ({ ...authBody(t), order: { id: 'x', amount: { value: 4111111111111111, currency: 'USD' } } })],
  ])('refuses %s with 400 PAN_REJECTED', async (_name, make) => {
    const r = await h.call('POST', '/v1/auth', make(randomToken()));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('PAN_REJECTED');
    expect(r.json.error.message).not.toContain('4111');
  });

  it('accepts a non-Luhn 16-digit order id (not a card number)', async () => {
    const r = await h.call('POST', '/v1/auth', authBody(randomToken(), {}, { id: '4111111111111112' }));
    expect(r.status).toBe(200);
  });

  it('accepts UUIDs whose last group is a Luhn-valid 12-digit run (ids and idempotency keys)', async () => {
    // 123456789015 passes Luhn; so do about 1 in 2 800 random UUIDs' last groups
    const uuid = '3f2b8c1e-9d4a-4e6b-8a7c-123456789015';
    const r = await h.call('POST', '/v1/auth', authBody(randomToken(), {}, { id: uuid }));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const o = await h.call('POST', '/v1/outcomes', outcomeBody(randomToken(), { orderId: uuid, idempotencyKey: uuid }));
    expect(o.status, JSON.stringify(o.json)).toBe(200);
  });

  it('refuses a PAN in an outcome too, and no PAN reached the logs', async () => {
    const r = await h.call('POST', '/v1/outcomes', outcomeBody(randomToken(), { orderId: pan }));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('PAN_REJECTED');
    expect(h.logs.join('\n')).not.toContain(pan);
  });
});
