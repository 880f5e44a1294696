// One contract for both sides (issue 13): whatever the bridge acknowledges, the service accepts.
// Both real on loopback. A property test throws bodies at the bridge — valid ones and the values
// the adversarial review found (future `at`, amounts between the old limits, card-number-shaped
// ids, made-up currencies) — and every body the bridge answers 200/202 must be accepted by the
// service: the verify answered by the network stage (not a `network_error` fallback), the outcome
// acknowledged (never rejected).
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../server/start.ts';
import { FakeRegistry, ScriptedDevice } from '../host-bridge/device-double.ts';
import { startTestBridge, type TestBridge } from '../host-bridge/bridge-harness.ts';
import { makeTempDir } from '../host-bridge/temp-dir.ts';

const CARD = '4000056655665556';
const PAN_ID = '4012888888881881'; // a test card number, Luhn-valid

describe('one contract: the bridge acknowledges only what the service accepts (both real)', () => {
  const serverDir = makeTempDir('precheck-one-contract-server-');
  const bridgeDir = makeTempDir('precheck-one-contract-bridge-');
  let server: Awaited<ReturnType<typeof startServer>>;
  let bridge: TestBridge;
  let bridgeKey: string;
  const device = new ScriptedDevice('dev-1', () => ({ decision: 'escalate', reason: 'unknown_card' }));

  beforeAll(async () => {
    server = await startServer({ dataDir: serverDir.path, port: 0, host: '127.0.0.1' });
    bridgeKey = (
      await fetch(`${server.url}/v1/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ merchant: 'contract-shop' }),
      }).then((r) => r.json() as Promise<{ key: string }>)
    ).key;
    bridge = await startTestBridge({
      dataDir: bridgeDir.path,
      registry: new FakeRegistry([device]),
      raw: { network: { serviceUrl: server.url, apiKey: bridgeKey, timeoutMs: 15_000 }, merchant: { country: 'US' } },
    });
    bridge.forwarder.on('acked', (k: string) => record(k, 'acked'));
    bridge.forwarder.on('rejected', (_kind: string, k: string) => record(k, 'rejected'));
  });

  afterAll(async () => {
    await bridge?.close();
    await server?.close();
    serverDir.remove();
    bridgeDir.remove();
  });

  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${bridge.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, any> };
  };
  const verifyBody = (order: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    card: { number: CARD, expMonth: 12, expYear: 2031 },
    order: { amount: { value: 2500, currency: 'EUR' }, ...order },
    ...extra,
  });

  // What the forwarder did with each idempotency key, recorded from the start (an ack can come
  // before a test starts waiting for it).
  const fate = new Map<string, 'acked' | 'rejected'>();
  const fateEvents = new EventEmitter();
  const settled = async (key: string): Promise<'acked' | 'rejected'> => {
    const known = fate.get(key);
    if (known) return known;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`outcome ${key} neither acked nor rejected`)), 30_000);
      fateEvents.on(key, (f: 'acked' | 'rejected') => {
        clearTimeout(timer);
        resolve(f);
      });
    });
  };
  const record = (key: string, f: 'acked' | 'rejected') => {
    fate.set(key, f);
    fateEvents.emit(key, f);
  };

  it('defect 1: an outcome `at` in the future (even 1e300) is a 400 naming `at`, not a 202 lost later', async () => {
    expect((await post('/v1/verify', verifyBody({ id: 'd1' }))).status).toBe(200);
    const nowS = Math.floor(Date.now() / 1000);
    for (const at of [1e300, nowS + 3600]) {
      const r = await post('/v1/outcomes', { orderId: 'd1', gateway: 'gw-a', status: 'failure', code: '59', type: 'fraud', attempt: 1, at });
      expect(r.status, String(at)).toBe(400);
      expect(r.json.error.field).toBe('at');
    }
    expect(bridge.outbox.depth()).toMatchObject({ outcomesPending: 0, outcomesRejected: 0 });
  });

  it('defect 2: the amount limit is the service\'s (10^13 minor units) at the bridge too', async () => {
    const over = await post('/v1/verify', verifyBody({ id: 'd2', amount: { value: 1e13 + 1, currency: 'EUR' } }));
    expect(over.status).toBe(400);
    expect(over.json.error.field).toBe('order.amount.value');
    const at = await post('/v1/verify', verifyBody({ id: 'd2b', amount: { value: 1e13, currency: 'EUR' } }));
    expect(at.status).toBe(200);
    expect(at.json.stage).toBe('network');
  });

  it('defect 3: card-number-shaped ids are refused (not stored, not logged, not echoed)', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [verifyBody({ id: PAN_ID }), 'order.id'],
      [verifyBody({ id: `cli-${PAN_ID}-x` }), 'order.id'],
      [verifyBody({ id: 'd3' }, { customer: { accountId: `acct:${PAN_ID}` } }), 'customer.accountId'],
      [verifyBody({ id: 'd3' }, { verifierId: PAN_ID }), 'verifierId'],
    ];
    for (const [body, field] of cases) {
      const r = await post('/v1/verify', body);
      expect(r.status, field).toBe(400);
      expect(r.json.error).toMatchObject({ code: 'PAN_REJECTED', field });
      expect(JSON.stringify(r.json)).not.toContain(PAN_ID);
    }
    const notFound = await fetch(`${bridge.url}/v1/devices/${PAN_ID}/pair`, { method: 'POST' });
    expect(notFound.status).toBe(400);
    expect(await notFound.text()).not.toContain(PAN_ID);
    expect(bridge.readLog()).not.toContain(PAN_ID);
    for (const f of readdirSync(bridgeDir.path)) {
      if (f.startsWith('outbox.sqlite')) expect(readFileSync(join(bridgeDir.path, f)).includes(PAN_ID), f).toBe(false);
    }
  });

  it('defect 6: only ISO 4217 currencies, on both sides, with the exponent from the same table', async () => {
    for (const currency of ['XXX', 'ZZZ', 'QQQ', 'XTS']) {
      const r = await post('/v1/verify', verifyBody({ id: `d6-${currency}`, amount: { value: 100, currency } }));
      expect(r.status, currency).toBe(400);
      expect(r.json.error.field).toBe('order.amount.currency');
      const svc = await fetch(`${server.url}/v1/auth`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bridgeKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bin: '400005', last4: '5556', expMonth: 12, expYear: 2031, order: { id: `d6-${currency}`, amount: { value: 100, currency } } }),
      });
      expect(svc.status, currency).toBe(400);
    }
    for (const currency of ['JPY', 'BHD', 'XAF', 'CHF']) {
      expect((await post('/v1/verify', verifyBody({ id: `d6-${currency}`, amount: { value: 100, currency } }))).status, currency).toBe(200);
    }
  });

  it('issue 11: outcomes without `attempt` are numbered, never merged; same attempt with another body is 409', async () => {
    expect((await post('/v1/verify', verifyBody({ id: 'att' }))).status).toBe(200);
    const a = await post('/v1/outcomes', { orderId: 'att', gateway: 'gw-a', status: 'failure', code: '05' });
    const b = await post('/v1/outcomes', { orderId: 'att', gateway: 'gw-a', status: 'failure', code: '51' });
    const again = await post('/v1/outcomes', { orderId: 'att', gateway: 'gw-a', status: 'failure', code: '05' });
    expect([a.status, b.status, again.status]).toEqual([202, 202, 202]);
    expect(a.json).toMatchObject({ attempt: 1, duplicate: false });
    expect(b.json).toMatchObject({ attempt: 2, duplicate: false });
    expect(again.json).toMatchObject({ attempt: 1, duplicate: true, idempotencyKey: a.json.idempotencyKey });
    const conflict = await post('/v1/outcomes', { orderId: 'att', gateway: 'gw-a', status: 'success', attempt: 1 });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error).toMatchObject({ code: 'CONFLICT', field: 'attempt' });
    expect(await Promise.all([settled(a.json.idempotencyKey), settled(b.json.idempotencyKey)])).toEqual(['acked', 'acked']);
  });

  it('property: every verify and outcome the bridge acknowledges, the service accepts', async () => {
    const nowS = () => Math.floor(Date.now() / 1000);
    const idArb = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9_.:/@#-]{1,64}$/),
      fc.constantFrom(PAN_ID, `cli-${PAN_ID}-x`, `order:${PAN_ID}`, '4111 1111 1111 1111', 'x'.repeat(65), 'ok-id', 'a b'),
      fc.uuid(),
    );
    const amountArb = fc.oneof(fc.integer({ min: 0, max: 2e13 }), fc.constantFrom(0, 1e13, 1e13 + 1, 1e15, -1, 1.5));
    const currencyArb = fc.constantFrom('USD', 'EUR', 'JPY', 'BHD', 'XAF', 'CLF', 'XXX', 'ZZZ', 'QQQ', 'XTS', 'XAU', 'usd');
    const atArb = fc.oneof(fc.constant(undefined), fc.constantFrom(1e300, -5, 0), fc.integer({ min: -100_000, max: 100_000 }).map((d) => nowS() + d));
    let n = 0;
    const seen = { verified: 0, outcomes: 0 };
    await fc.assert(
      fc.asyncProperty(
        idArb,
        amountArb,
        currencyArb,
        atArb,
        fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined }),
        fc.option(fc.stringMatching(/^[a-z0-9-]{1,10}$/), { nil: undefined }),
        async (id, value, currency, at, attempt, accountId) => {
          // Unique per run so a re-used id never mixes two runs' verifications.
          const orderId = id.length < 60 && /^[A-Za-z0-9_.:/@#-]+$/.test(id) ? `${id}.${n++}` : id;
          const v = await post('/v1/verify', verifyBody({ id: orderId, amount: { value, currency } }, accountId ? { customer: { accountId } } : {}));
          expect([200, 400]).toContain(v.status);
          if (v.status !== 200) return;
          seen.verified++;
          expect(v.json.stage, JSON.stringify(v.json)).toBe('network');
          const o = await post('/v1/outcomes', { orderId, gateway: 'gw-a', status: 'failure', code: '05', type: 'hard', ...(attempt !== undefined ? { attempt } : {}), ...(at !== undefined ? { at } : {}) });
          expect([202, 400]).toContain(o.status);
          if (o.status !== 202) return;
          seen.outcomes++;
          expect(await settled(o.json.idempotencyKey)).toBe('acked');
        },
      ),
      // A fixed seed keeps the coverage check below deterministic (a random one left it at 5 of 60
      // some runs); change the seed to explore other bodies.
      { numRuns: 100, seed: 20261206 },
    );
    // The generator reaches both sides of every limit: some bodies accepted end to end.
    expect(seen.verified).toBeGreaterThan(5);
    expect(seen.outcomes).toBeGreaterThan(2);
  });
});
