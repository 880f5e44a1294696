// Network authentication and outcomes without a card token (no device answered, so the bridge has
// no card key): BIN rules, expiry and new-card trust still decide; no card-level facts are used;
// token-less outcomes feed routing only. Plus the order context that routes outcomes in the right
// segment, and the gateway that declined the card being avoided.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authBody, outcomeBody, randomToken, startHarness, type Harness } from './helpers.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ trustLimitsUsd: { medium: 100 }, routing: { explorationShare: 0 } });
});
afterAll(async () => {
  await h?.close();
});

const noToken = (over: Record<string, unknown> = {}, order: Record<string, unknown> = {}) => {
  const b = authBody(randomToken(), over, { id: `o-${crypto.randomBytes(6).toString('hex')}`, ...order });
  delete b.token;
  return b;
};
const db = () => (h.s.service.storage as unknown as { db: import('better-sqlite3').Database }).db;

describe('token-less network authentication', () => {
  it('is answered by BIN rules, expiry and new-card trust, with a gateway', async () => {
    await h.admin('POST', '/v1/admin/gateways', { name: 'gw-a', feePerAttempt: 10, feeBps: 0 });
    const r = await h.call('POST', '/v1/auth', noToken());
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ decision: 'approve', reason: 'trust_ok', gateway: 'gw-a' });
    expect(r.json.trust).toMatchObject({ level: 'medium' });
    // BIN rule
    await h.admin('POST', '/v1/admin/bin-rules', { prefix: '499999', action: 'decline', reason: 'blocked_range' });
    expect((await h.call('POST', '/v1/auth', noToken({ bin: '499999' }))).json).toMatchObject({ decision: 'decline', reason: 'bin_rule' });
    // expiry
    expect((await h.call('POST', '/v1/auth', noToken({ expYear: 2001 }))).json).toMatchObject({ decision: 'decline', reason: 'card_expired' });
    // over the trust limit → 3-D Secure
    expect((await h.call('POST', '/v1/auth', noToken({}, { amount: { value: 50_000, currency: 'USD' } }))).json).toMatchObject({ decision: 'review', reason: 'trust_limit_exceeded' });
  });

  it('counts token-less attempts for velocity under a keyed fingerprint of BIN + last four + expiry', async () => {
    const ids = [`fp-${crypto.randomBytes(6).toString('hex')}`, `fp-${crypto.randomBytes(6).toString('hex')}`, `fp-${crypto.randomBytes(6).toString('hex')}`];
    await h.call('POST', '/v1/auth', noToken({ last4: '4242' }, { id: ids[0] }));
    await h.call('POST', '/v1/auth', noToken({ last4: '4242' }, { id: ids[1] }));
    await h.call('POST', '/v1/auth', noToken({ last4: '4242', expMonth: 11 }, { id: ids[2] }));
    await h.s.service.trust.signals.flush(); // attempts are written behind the answers
    const rows = db().prepare(`SELECT order_id, hex(token) AS t, features FROM trust_attempts WHERE order_id IN (?, ?, ?) ORDER BY at, rowid`).all(...ids) as { order_id: string; t: string; features: string }[];
    const byId = new Map(rows.map((r) => [r.order_id, r]));
    expect(byId.get(ids[0])!.t).toBe(byId.get(ids[1])!.t); // same card details → same series
    expect(byId.get(ids[2])!.t).not.toBe(byId.get(ids[0])!.t); // another expiry → another card
    // the fingerprint is keyed: not a plain hash of the details
    const plain = crypto.createHash('sha256').update('411111|4242|12/2099').digest('hex').slice(0, 32).toUpperCase();
    expect(byId.get(ids[0])!.t).not.toBe(plain);
  });

  it('uses no card-level facts without a token: a restricted card is not recognised', async () => {
    const t = randomToken();
    await h.admin('POST', '/v1/admin/restricted', { token: t, reason: 'stolen' });
    expect((await h.call('POST', '/v1/auth', authBody(t, {}, { id: 'with-token' }))).json.decision).toBe('decline');
    expect((await h.call('POST', '/v1/auth', noToken())).json.decision).toBe('approve');
  });
});

describe('token-less outcomes', () => {
  it('are stored and feed routing, but never restricted, known-good or the card history', async () => {
    const before = h.s.service.router.router.stats().recorded;
    const mk = (over: Record<string, unknown>) => {
      const b = outcomeBody(randomToken(), over);
      delete b.token;
      return b;
    };
    const hard = await h.call('POST', '/v1/outcomes', mk({ status: 'failure', code: '43', type: 'hard', gateway: 'gw-a' }));
    expect(hard.status, JSON.stringify(hard.json)).toBe(200);
    expect(hard.json).toMatchObject({ restricted: false, knownGood: false });
    const ok = await h.call('POST', '/v1/outcomes', mk({ status: 'success', gateway: 'gw-a' }));
    expect(ok.json).toMatchObject({ restricted: false, knownGood: false });
    expect(h.s.service.router.router.stats().recorded).toBe(before + 2);
    const n = db().prepare('SELECT count(*) AS n FROM outcomes WHERE token IS NULL').get() as { n: number };
    expect(n.n).toBeGreaterThanOrEqual(2);
    // the dataset's history digest has no token-less rows (they cannot be looked up by card)
    const tables = await h.s.service.storage.readDatasetTables(Math.floor(Date.now() / 1000), 0, 32);
    expect(tables.history.every((e) => e.token instanceof Uint8Array && e.token.length === 16)).toBe(true);
    // a retry is idempotent as with a token
    const body = mk({ status: 'success', gateway: 'gw-a' });
    const r1 = await h.call('POST', '/v1/outcomes', body);
    const r2 = await h.call('POST', '/v1/outcomes', body);
    expect(r2.headers.get('idempotent-replay')).toBe('true');
    expect(r2.json.outcomeId).toBe(r1.json.outcomeId);
  });
});

describe('order context and the declining gateway', () => {
  it("routes an outcome in its order's segment (country, cross-border) from the order's /v1/auth", async () => {
    const orderId = `ctx-${crypto.randomBytes(6).toString('hex')}`;
    const t = randomToken();
    await h.call('POST', '/v1/auth', authBody(t, {}, { id: orderId, country: 'FR', crossBorder: true }));
    expect((await h.call('POST', '/v1/outcomes', outcomeBody(t, { orderId, status: 'success' }))).status).toBe(200);
    const row = db().prepare('SELECT country, cross_border FROM outcomes WHERE order_id = ?').get(orderId) as { country: string; cross_border: number };
    expect(row).toEqual({ country: 'FR', cross_border: 1 });
    // explicit fields win over the stored context
    const o2 = `ctx-${crypto.randomBytes(6).toString('hex')}`;
    await h.call('POST', '/v1/auth', authBody(t, {}, { id: o2, country: 'FR', crossBorder: true }));
    await h.call('POST', '/v1/outcomes', outcomeBody(t, { orderId: o2, status: 'success', country: 'US', crossBorder: false }));
    expect(db().prepare('SELECT country, cross_border FROM outcomes WHERE order_id = ?').get(o2)).toEqual({ country: 'US', cross_border: 0 });
  });

  it('does not recommend the gateway that declined this card when another one is available', async () => {
    await h.admin('POST', '/v1/admin/gateways', { name: 'gw-b', feePerAttempt: 50, feeBps: 0 });
    // gw-a clearly better in JPY
    for (let i = 0; i < 25; i++) {
      await h.call('POST', '/v1/outcomes', outcomeBody(randomToken(), { gateway: 'gw-a', currency: 'JPY', amount: 5000, status: 'success' }));
      await h.call('POST', '/v1/outcomes', outcomeBody(randomToken(), { gateway: 'gw-b', currency: 'JPY', amount: 5000, status: i % 3 ? 'success' : 'failure', ...(i % 3 ? {} : { code: '05', type: 'soft' }) }));
    }
    const jpy = { amount: { value: 5000, currency: 'JPY' } };
    const t = randomToken();
    expect((await h.call('POST', '/v1/auth', authBody(t, {}, { id: 'av-1', ...jpy }))).json.gateway).toBe('gw-a');
    await h.call('POST', '/v1/outcomes', outcomeBody(t, { orderId: 'av-1', gateway: 'gw-a', currency: 'JPY', amount: 5000, status: 'failure', code: '05', type: 'soft' }));
    const again = await h.call('POST', '/v1/auth', authBody(t, {}, { id: 'av-1', ...jpy }));
    expect(again.json).toMatchObject({ decision: 'approve', gateway: 'gw-b' });
    // another card still goes to gw-a
    expect((await h.call('POST', '/v1/auth', authBody(randomToken(), {}, { id: 'av-2', ...jpy }))).json.gateway).toBe('gw-a');
    // without a token the same order's earlier decline with the same card (BIN + last four) counts
    const b = noToken({ last4: '7777' }, { id: 'av-3', ...jpy });
    expect((await h.call('POST', '/v1/auth', b)).json.gateway).toBe('gw-a');
    const o = outcomeBody(randomToken(), { orderId: 'av-3', last4: '7777', gateway: 'gw-a', currency: 'JPY', amount: 5000, status: 'failure', code: '05', type: 'soft' });
    delete o.token;
    await h.call('POST', '/v1/outcomes', o);
    expect((await h.call('POST', '/v1/auth', b)).json.gateway).toBe('gw-b');
    // a success at gw-a later clears it
    await h.call('POST', '/v1/outcomes', outcomeBody(t, { orderId: 'av-4', gateway: 'gw-a', currency: 'JPY', amount: 5000, status: 'success' }));
    expect((await h.call('POST', '/v1/auth', authBody(t, {}, { id: 'av-5', ...jpy }))).json.gateway).toBe('gw-a');
  });
});
