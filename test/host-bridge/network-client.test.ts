import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetworkClient, NetworkError } from '../../host-bridge/network/network-client.ts';
import { CircuitBreaker } from '../../host-bridge/network/circuit-breaker.ts';
import { ScriptedService } from './scripted-service.ts';

let svc: ScriptedService;
let client: NetworkClient | null = null;

function makeClient(over: Partial<ConstructorParameters<typeof NetworkClient>[0]> = {}): NetworkClient {
  client = new NetworkClient({
    baseUrl: svc.url,
    apiKey: 'pk_test_key_123456',
    timeoutMs: 2000, // generous: only the tests about timeouts shorten it
    retries: 2,
    backoffMs: 5,
    backoffMaxMs: 20,
    breaker: { failureThreshold: 100, resetMs: 60_000 },
    ...over,
  });
  return client;
}

async function failure(p: Promise<unknown>): Promise<NetworkError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(NetworkError);
    return e as NetworkError;
  }
  throw new Error('expected a NetworkError');
}

beforeEach(async () => {
  svc = await new ScriptedService().start();
});
afterEach(async () => {
  await client?.close();
  client = null;
  await svc.close();
});

describe('network client (real HTTP server on loopback)', () => {
  it('posts JSON with the API key and idempotency key', async () => {
    svc.handler = () => ({ status: 200, body: { ok: true } });
    const res = await makeClient().postJson('/v1/outcomes', { a: 1 }, { idempotencyKey: 'o1:gw:1' });
    expect(res).toEqual({ status: 200, body: { ok: true } });
    expect(svc.requests[0].headers.authorization).toBe('Bearer pk_test_key_123456');
    expect(svc.requests[0].headers['idempotency-key']).toBe('o1:gw:1');
    expect(svc.requests[0].body).toEqual({ a: 1 });
  });

  it('retries 5xx with backoff and succeeds when the service recovers', async () => {
    let n = 0;
    svc.handler = () => (++n < 3 ? { status: 503, body: { error: { code: 'UNAVAILABLE' } } } : { status: 200, body: { n } });
    const c = makeClient();
    const res = await c.postJson('/v1/auth', {});
    expect(res.body).toEqual({ n: 3 });
    expect(svc.requests).toHaveLength(3);
    expect(c.stats.retries).toBe(2);
  });

  it('gives up after the configured retries with NETWORK_UNAVAILABLE', async () => {
    svc.handler = () => ({ status: 500 });
    const e = await failure(makeClient({ retries: 1 }).postJson('/v1/auth', {}));
    expect(e.code).toBe('NETWORK_UNAVAILABLE');
    expect(e.status).toBe(500);
    expect(svc.requests).toHaveLength(2);
  });

  it('times out a hanging service and retries', async () => {
    // 2 s, not less: on a loaded machine a shorter deadline can pass before the request reaches the
    // hanging service, and the test would count fewer requests than were attempted
    svc.handler = () => 'hang';
    const e = await failure(makeClient({ timeoutMs: 2_000, retries: 1 }).postJson('/v1/auth', {}));
    expect(e.kind).toBe('timeout');
    expect(svc.requests).toHaveLength(2);
  });

  it('treats a dropped connection as unavailable', async () => {
    svc.handler = () => 'drop';
    const e = await failure(makeClient({ retries: 0 }).postJson('/v1/auth', {}));
    expect(e.code).toBe('NETWORK_UNAVAILABLE');
  });

  it('does not retry non-idempotent calls', async () => {
    svc.handler = () => ({ status: 503 });
    await failure(makeClient().postJson('/v1/auth', {}, { idempotent: false }));
    expect(svc.requests).toHaveLength(1);
  });

  it('does not retry a 4xx and reports it as NETWORK_REJECTED', async () => {
    svc.handler = () => ({ status: 400, body: { error: { code: 'INVALID_FIELD', message: 'x' } } });
    const c = makeClient();
    const e = await failure(c.postJson('/v1/auth', {}));
    expect(e.code).toBe('NETWORK_REJECTED');
    expect(e.message).toContain('INVALID_FIELD');
    expect(svc.requests).toHaveLength(1);
    expect(c.breakerState()).toBe('closed');
  });

  it('opens the breaker after repeated failures, fails fast while open, closes after a good trial', async () => {
    let t = 1_000_000;
    svc.handler = () => ({ status: 503 });
    const c = makeClient({ retries: 0, breaker: { failureThreshold: 3, resetMs: 5_000 }, now: () => t });
    const states: string[] = [];
    c.breaker.on('state', (s: string) => states.push(s));
    for (let i = 0; i < 3; i++) await failure(c.postJson('/v1/auth', {}));
    expect(c.breakerState()).toBe('open');
    expect(svc.requests).toHaveLength(3);
    // open: no request reaches the service
    const fast = await failure(c.postJson('/v1/auth', {}));
    expect(fast.kind).toBe('breaker');
    expect(svc.requests).toHaveLength(3);
    // after resetMs: one trial; it fails → open again
    t += 5_000;
    expect(c.breakerState()).toBe('half-open');
    await failure(c.postJson('/v1/auth', {}));
    expect(svc.requests).toHaveLength(4);
    expect(c.breakerState()).toBe('open');
    // next trial succeeds → closed
    t += 5_000;
    svc.handler = () => ({ status: 200, body: {} });
    await c.postJson('/v1/auth', {});
    expect(c.breakerState()).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('stops retrying once the breaker opens mid-call', async () => {
    svc.handler = () => ({ status: 502 });
    const c = makeClient({ retries: 5, breaker: { failureThreshold: 2, resetMs: 60_000 } });
    const e = await failure(c.postJson('/v1/auth', {}));
    expect(e.kind).toBe('breaker');
    expect(svc.requests).toHaveLength(2);
  });

  it('backoff grows exponentially, is capped and jittered', () => {
    svc.handler = () => ({ status: 200 });
    const lo = makeClient({ backoffMs: 100, backoffMaxMs: 1000, random: () => 0 });
    expect([1, 2, 3, 4, 5].map((a) => lo.backoffDelay(a))).toEqual([50, 100, 200, 400, 500]);
    const hi = new NetworkClient({ baseUrl: svc.url, timeoutMs: 1, retries: 0, backoffMs: 100, backoffMaxMs: 1000, breaker: { failureThreshold: 1, resetMs: 1 }, random: () => 1 });
    expect([1, 2, 5].map((a) => hi.backoffDelay(a))).toEqual([100, 200, 1000]);
    void hi.close();
  });

  it('half-open lets only one trial through at a time', () => {
    let t = 0;
    const b = new CircuitBreaker({ failureThreshold: 1, resetMs: 10, now: () => t });
    b.failure();
    expect(b.tryAcquire()).toBe(false);
    t = 10;
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    b.success();
    expect(b.tryAcquire()).toBe(true);
  });

  it('refuses an oversized response', async () => {
    svc.handler = () => ({ status: 200, body: { pad: 'x'.repeat(5000) } });
    const e = await failure(makeClient({ retries: 0, maxResponseBytes: 1000 }).postJson('/v1/auth', {}));
    expect(e.kind).toBe('bad-response');
  });


  it('treats 429 as back-pressure: waits the Retry-After, then succeeds; the breaker never opens for it', async () => {
    let n = 0;
    svc.handler = () => (++n <= 2 ? { status: 429, body: { error: { code: 'RATE_LIMITED' } }, headers: { 'retry-after': '0' } } : { status: 200, body: { n } });
    const c = makeClient({ retries: 3, breaker: { failureThreshold: 1, resetMs: 60_000 } });
    const res = await c.postJson('/v1/auth', {});
    expect(res.body).toEqual({ n: 3 });
    expect(c.stats.rateLimited).toBe(2);
    expect(c.breakerState()).toBe('closed');
    // Many 429s in a row still leave the circuit closed: live verifications keep going out.
    svc.handler = () => ({ status: 429, body: { error: { code: 'RATE_LIMITED' } }, headers: { 'retry-after': '0' } });
    for (let i = 0; i < 5; i++) {
      const e = await failure(c.postJson('/v1/outcomes', {}, { retries: 0 }));
      expect(e).toMatchObject({ code: 'NETWORK_UNAVAILABLE', kind: 'rate-limited', status: 429, retryAfterMs: 0 });
    }
    expect(c.breakerState()).toBe('closed');
  });

  it('gives up at once when the Retry-After is past the call deadline', async () => {
    svc.handler = () => ({ status: 429, body: { error: { code: 'RATE_LIMITED' } }, headers: { 'retry-after': '60' } });
    const c = makeClient({ retries: 3 });
    const e = await failure(c.postJson('/v1/auth', {}, { deadlineMs: 1500 }));
    expect(e).toMatchObject({ kind: 'rate-limited', retryAfterMs: 60_000 });
    expect(svc.requests).toHaveLength(1); // no wait, no second attempt
  });

  it('one deadline for the whole call: a hung service costs one attempt, not timeout × retries', async () => {
    svc.handler = () => 'hang';
    const c = makeClient({ timeoutMs: 30_000, retries: 2 });
    const e = await failure(c.postJson('/v1/auth', {}, { deadlineMs: 300 }));
    expect(e.kind).toBe('timeout');
    expect(svc.requests).toHaveLength(1);
  });
});
