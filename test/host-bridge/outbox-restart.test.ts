// Outcomes and fallback decisions survive a bridge restart during a network outage and are
// forwarded once the service is back (real SQLite file, real HTTP server on a fixed loopback port).
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { request } from 'undici';
import { FakeRegistry, ScriptedDevice, testToken } from './device-double.ts';
import { bridgeEnvEachTest, startTestBridge, waitForPass, postJson } from './bridge-harness.ts';
import { Outbox } from '../../host-bridge/outbox/outbox-db.ts';

const PAN = '5555555555554444';
const env = bridgeEnvEachTest({ startService: false });
const post = (path: string, body: unknown) => postJson(env.bridge!.url, path, body);

describe('outbox across restarts and outages', () => {
  it('keeps rows through an outage and a restart, forwards them when the service returns', async () => {
    // Reserve a port, then take the service down: the bridge sees connection refused.
    await env.svc.start();
    const port = env.svc.port;
    await env.svc.close();
    const registry = () => new FakeRegistry([new ScriptedDevice('dev-1', () => ({ decision: 'escalate', reason: 'unknown_card' }))]);
    const raw = { network: { serviceUrl: `http://127.0.0.1:${port}`, retries: 0 }, fallback: 'review' };

    env.bridge = await startTestBridge({ dataDir: env.dir.path, raw, registry: registry() });
    const v = await post('/v1/verify', { card: { number: PAN, expMonth: 1, expYear: 2031 }, order: { id: 'ord-9', amount: { value: 4200, currency: 'EUR' } } });
    expect(v.json).toMatchObject({ stage: 'fallback', decision: 'review', reason: 'network_unavailable' });
    const failedPass = waitForPass(env.bridge.forwarder, (r) => r.retried > 0);
    const o = await post('/v1/outcomes', { orderId: 'ord-9', gateway: 'gw-x', status: 'failure', code: '05', attempt: 1 });
    expect(o.status).toBe(202);
    await failedPass; // the forwarder tried and the outage kept the row
    expect(env.bridge.outbox.depth()).toMatchObject({ outcomesPending: 1, reconciliationsPending: 1 });
    await env.bridge.close();
    env.bridge = null;

    // Rows are on disk while nothing runs.
    const peek = Outbox.open(env.dir.path);
    expect(peek.depth()).toMatchObject({ outcomesPending: 1, reconciliationsPending: 1 });
    peek.close();

    // The service comes back on the same address; the bridge restarts and drains the outbox.
    env.svc.handler = (r) =>
      r.path === '/v1/outcomes' ? { status: 200, body: { stored: true } } : { status: 200, body: { decision: 'decline', reason: 'restricted', prompt: null, gateway: null } };
    await env.svc.start(port);
    env.bridge = await startTestBridge({ dataDir: env.dir.path, raw, registry: registry() });
    await env.bridge.forwarder.runOnce();
    const [outcome] = await env.svc.waitFor('/v1/outcomes');
    expect(outcome.headers['idempotency-key']).toMatch(/^ob-[0-9a-f]{40}$/);
    expect(outcome.body).toMatchObject({ orderId: 'ord-9', token: testToken(PAN), bin: '555555', last4: '4444', amount: 4200, currency: 'EUR', status: 'failure', code: '05' });
    const [recon] = await env.svc.waitFor('/v1/auth');
    expect(recon.body).toMatchObject({ token: testToken(PAN), order: { id: 'ord-9' } });
    expect(recon.body).not.toHaveProperty('fallback'); // kept in the outbox, never sent
    expect(env.bridge.outbox.depth()).toEqual({ outcomesPending: 0, outcomesRejected: 0, reconciliationsPending: 0, reconciliationsRejected: 0, reconciliationMismatches: 1 });
  });

  it('a row the service refuses (4xx) is set aside as rejected, not retried forever', async () => {
    await env.svc.start();
    env.svc.handler = (r) => (r.path === '/v1/outcomes' ? { status: 409, body: { error: { code: 'CONFLICT', message: 'key reused' } } } : { status: 200, body: { decision: 'approve', reason: 'ok' } });
    env.bridge = await startTestBridge({ dataDir: env.dir.path, raw: { network: { serviceUrl: env.svc.url } } });
    await post('/v1/verify', { card: { number: PAN, expMonth: 1, expYear: 2031 }, order: { id: 'ord-1', amount: { value: 1, currency: 'EUR' } } });
    const rejected = once(env.bridge.forwarder, 'rejected');
    await post('/v1/outcomes', { orderId: 'ord-1', gateway: 'gw', status: 'success' });
    const [kind] = await rejected;
    expect(kind).toBe('outcome');
    expect(env.bridge.outbox.depth()).toMatchObject({ outcomesPending: 0, outcomesRejected: 1 });
    const health = await request(env.bridge.url + '/v1/health');
    expect(((await health.body.json()) as any).status).toBe('degraded');
  });

  it('the forwarder backs off between attempts while the service is down', async () => {
    await env.svc.start();
    env.svc.handler = (r) => (r.path === '/v1/outcomes' ? { status: 503 } : { status: 200, body: { decision: 'approve', reason: 'ok' } });
    env.bridge = await startTestBridge({ dataDir: env.dir.path, raw: { network: { serviceUrl: env.svc.url, retries: 0 }, outbox: { retryBaseMs: 60_000, retryMaxMs: 60_000 } } });
    await post('/v1/verify', { card: { number: PAN, expMonth: 1, expYear: 2031 }, order: { id: 'ord-2', amount: { value: 1, currency: 'EUR' } } });
    const failed = waitForPass(env.bridge.forwarder, (r) => r.retried > 0);
    await post('/v1/outcomes', { orderId: 'ord-2', gateway: 'gw', status: 'success' });
    await failed;
    // A pass right now finds nothing due: the row waits for its backoff (≥ 30 s with jitter).
    const r = await env.bridge.forwarder.runOnce();
    expect(r).toEqual({ acked: 0, reconciled: 0, retried: 0, rejected: 0 });
    expect(env.svc.requests.filter((x) => x.path === '/v1/outcomes')).toHaveLength(1);
    expect(env.bridge.outbox.nextDueMs()! - Date.now()).toBeGreaterThan(25_000);
  });
});
