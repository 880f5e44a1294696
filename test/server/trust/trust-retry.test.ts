// A customer retrying the same card in the same checkout (after a generic 05) is not asked for
// 3-D Secure because the first attempt now counts as velocity: over real HTTP, on the service's
// clock, the prior model's level falls medium → low → block with each retry of one card.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authBody, outcomeBody, randomToken, startHarness, type Harness } from '../helpers.ts';

let h: Harness;
let nowMs = 1_800_000_000_000;
beforeAll(async () => {
  h = await startHarness({ trustLimitsUsd: { medium: 100 }, routing: { explorationShare: 0 }, now: () => nowMs });
});
afterAll(async () => {
  await h?.close();
});

const customer = { accountId: 'acct-retry', deviceId: 'dev-retry', ip: '192.0.2.7' };
async function auth(token: string, orderId: string, value: number, over: Record<string, unknown> = {}) {
  const r = await h.call('POST', '/v1/auth', authBody(token, { customer, ...over }, { id: orderId, amount: { value, currency: 'USD' } }));
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}
let n = 0;
async function declined(token: string, orderId: string, value: number, code: string, over: Record<string, unknown> = {}) {
  n++;
  // fixed idempotency keys: no random digits for the PAN guard
  const r = await h.call('POST', '/v1/outcomes', outcomeBody(token, { idempotencyKey: `trust-retry-${n}`, orderId, amount: value, status: 'failure', code, type: code === '05' ? 'soft' : 'hard', at: Math.floor(nowMs / 1000), ...over }));
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  nowMs += 30_000; // the customer retries half a minute later
}

describe('trust: the same card retried in the same checkout', () => {
  it('keeps the answer it had for no more than the attempted amount; a larger amount, another card or fraud evidence is asked again', async () => {
    const card = randomToken();
    expect(await auth(card, 'retry-1', 4000)).toMatchObject({ decision: 'approve', reason: 'trust_ok', trust: { level: 'medium' } });
    await declined(card, 'retry-1', 4000, '05');
    // The level fell on the retry's own velocity (account, card and IP each count the first attempt)...
    expect(await auth(card, 'retry-1', 4000)).toMatchObject({ decision: 'approve', reason: 'trust_retry', trust: { level: 'low' } });
    await declined(card, 'retry-1', 4000, '05');
    // ...to the lowest level, which alone would ask for 3-D Secure (trust_too_low): not for this retry.
    expect(await auth(card, 'retry-1', 3000)).toMatchObject({ decision: 'approve', reason: 'trust_retry', prompt: null, trust: { level: 'block' } });
    // More than was attempted: the level decides; another card of the order is its own new card.
    expect(await auth(card, 'retry-1', 4001)).toMatchObject({ decision: 'review', reason: 'trust_too_low' });
    const other = randomToken();
    expect((await auth(other, 'retry-1', 1000, { last4: '2222' })).reason).toBe('trust_ok');
    // A stolen-card answer to that other card is fraud evidence in this checkout: the retry is asked again.
    await declined(other, 'retry-1', 1000, '43', { last4: '2222' });
    expect(await auth(card, 'retry-1', 3000)).toMatchObject({ decision: 'review', reason: 'fraud_signal', detail: '3ds_required' });
  });
});
