// The HTTP API end to end: a real bridge on a loopback port, a scripted device double, a real
// HTTP server as the network service, real SQLite in a temp dir.
import { beforeEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { FakeRegistry, ScriptedDevice, testToken } from './device-double.ts';
import { bridgeEnvEachTest, startTestBridge, type TestBridge } from './bridge-harness.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { SyncError } from '../../host-bridge/sync/errors.ts';

const PAN = '4111111111111111';
const PAN2 = '5555555555554444';
const env = bridgeEnvEachTest();
let device: ScriptedDevice;

async function start(raw: Record<string, unknown> = {}, extra: Partial<Parameters<typeof startTestBridge>[0]> = {}): Promise<TestBridge> {
  env.bridge = await startTestBridge({ dataDir: env.dir.path, raw: { network: { serviceUrl: env.svc.url }, ...raw }, registry: new FakeRegistry([device]), ...extra });
  return env.bridge;
}

async function call(method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}, raw?: string) {
  const res = await request(env.bridge!.url + path, {
    method,
    headers: body !== undefined || raw !== undefined ? { 'content-type': 'application/json', ...headers } : headers,
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.body.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* text bodies: /metrics */
  }
  return { status: res.statusCode, text, json, type: String(res.headers['content-type']) };
}

function verifyBody(over: Record<string, unknown> = {}, card: Record<string, unknown> = {}) {
  return {
    card: { number: PAN, expMonth: 12, expYear: 2030, cvc: '737', ...card },
    order: { id: 'order-1', amount: { value: 1999, currency: 'USD' }, country: 'DE' },
    ...over,
  };
}

beforeEach(() => {
  device = new ScriptedDevice('dev-1', () => ({ decision: 'approve', reason: 'known_good', brand: 'visa', gateway: 'gw-a' }));
});

describe('POST /v1/verify', () => {
  it('returns the final result with stage, card mask, device and timings', async () => {
    await start();
    const r = await call('POST', '/v1/verify', verifyBody());
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      orderId: 'order-1',
      decision: 'approve',
      reason: 'known_good',
      stage: 'local',
      prompt: null,
      gateway: 'gw-a',
      card: { brand: 'visa', bin: '411111', last4: '1111' },
      device: { id: 'dev-1', datasetVersion: 42 },
    });
    expect(Object.keys(r.json.timings).sort()).toEqual(['formatMs', 'localMs', 'networkMs', 'totalMs']);
    expect(r.text).not.toContain(PAN);
  });

  it('escalation goes to the network service and the answer comes back labelled network', async () => {
    device.script = () => ({ decision: 'escalate', reason: 'unknown_card' });
    env.svc.handler = () => ({ status: 200, body: { decision: 'review', reason: 'new_card_low_trust', prompt: { code: 'verify_identity', message: 'Please confirm', lang: 'en' }, gateway: 'gw-b' } });
    await start();
    const r = await call('POST', '/v1/verify', verifyBody());
    expect(r.json).toMatchObject({ decision: 'review', stage: 'network', reason: 'new_card_low_trust', gateway: 'gw-b', prompt: { code: 'verify_identity' } });
    expect(env.svc.requests[0].raw).not.toContain(PAN);
  });

  const bad: Array<[string, unknown, string]> = [
    ['missing card number', verifyBody({}, { number: undefined }), 'card.number'],
    ['unknown card field', verifyBody({}, { pin: '1234' }), 'card.pin'],
    ['amount as a decimal string', { ...verifyBody(), order: { id: 'o', amount: { value: '19.99', currency: 'USD' } } }, 'order.amount.value'],
    ['amount as a fraction', { ...verifyBody(), order: { id: 'o', amount: { value: 19.99, currency: 'USD' } } }, 'order.amount.value'],
    ['lower-case currency', { ...verifyBody(), order: { id: 'o', amount: { value: 1, currency: 'usd' } } }, 'order.amount.currency'],
    ['missing order', { card: verifyBody().card }, 'order'],
    ['card number too long (echo risk)', verifyBody({}, { number: PAN + PAN }), 'card.number'],
    ['expMonth as a string', verifyBody({}, { expMonth: '12' }), 'card.expMonth'],
    ['unknown top-level field', verifyBody({ pan: PAN }), 'pan'],
  ];
  for (const [name, body, field] of bad) {
    it(`400 names the field: ${name}`, async () => {
      await start();
      const r = await call('POST', '/v1/verify', body);
      expect(r.status).toBe(400);
      // A field named like a card number is refused by the PAN guard, before the schema.
      expect(r.json.error).toMatchObject({ code: field === 'pan' ? 'PAN_REJECTED' : 'INVALID_FIELD', field });
      expect(r.json.error.message).toContain(field);
      expect(r.text).not.toContain(PAN);
      expect(r.text).not.toContain('411111111111');
    });
  }

  it('malformed JSON containing a card number → 400 MALFORMED without echoing it', async () => {
    await start();
    const r = await call('POST', '/v1/verify', undefined, {}, `{"card":{"number":"${PAN}", "expMonth": 12,,}`);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('MALFORMED');
    expect(r.text).not.toContain(PAN);
    expect(r.text).not.toContain('4111');
  });

  it('impossible cards → 422 with the code and field, no card number', async () => {
    await start();
    const luhn = await call('POST', '/v1/verify', verifyBody({}, { number: '4111111111111112' }));
    expect(luhn.status).toBe(422);
    expect(luhn.json.error).toMatchObject({ code: 'CARD_NUMBER_INVALID', field: 'card.number' });
    expect(luhn.text).not.toContain('4111111111111112');
    const expired = await call('POST', '/v1/verify', verifyBody({}, { expYear: 2019 }));
    expect(expired.json.error).toMatchObject({ code: 'CARD_EXPIRED' });
    const cvc = await call('POST', '/v1/verify', verifyBody({}, { cvc: '73' }));
    expect(cvc.status).toBe(400); // below the schema's minLength
    expect(cvc.json.error.field).toBe('card.cvc');
    expect(device.calls).toHaveLength(0);
  });

  it('unknown verifier id → 404 DEVICE_NOT_FOUND', async () => {
    await start();
    const r = await call('POST', '/v1/verify', verifyBody({ verifierId: 'nope' }));
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ code: 'DEVICE_NOT_FOUND', field: 'verifierId' });
  });

  it('wrong content type → 415', async () => {
    await start();
    const res = await request(env.bridge!.url + '/v1/verify', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
    expect(res.statusCode).toBe(415);
    expect((await res.body.json()) as object).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  });
});

describe('bearer token', () => {
  it('is required on every route when configured', async () => {
    const token = 'a-long-enough-bridge-token';
    await start({ token });
    for (const [m, p] of [['POST', '/v1/verify'], ['GET', '/v1/health'], ['GET', '/metrics'], ['GET', '/v1/devices'], ['GET', '/v1/openapi.json']] as const) {
      const none = await call(m, p, m === 'POST' ? verifyBody() : undefined);
      expect(none.status, p).toBe(401);
      expect(none.json.error.code).toBe('UNAUTHORIZED');
      const wrong = await call(m, p, m === 'POST' ? verifyBody() : undefined, { authorization: 'Bearer nope' });
      expect(wrong.status, p).toBe(401);
    }
    expect(device.calls).toHaveLength(0);
    const ok = await call('POST', '/v1/verify', verifyBody(), { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
  });

  it('is not required when not configured on loopback', async () => {
    await start();
    expect((await call('GET', '/v1/health')).status).toBe(200);
  });
});

describe('POST /v1/outcomes', () => {
  it('unknown order → 404 ORDER_NOT_FOUND', async () => {
    await start();
    const r = await call('POST', '/v1/outcomes', { orderId: 'never-verified', gateway: 'gw-a', status: 'success' });
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ code: 'ORDER_NOT_FOUND', field: 'orderId' });
  });

  it('resolves the token from the order, forwards once with the idempotency key', async () => {
    env.svc.handler = (req) => (req.path === '/v1/outcomes' ? { status: 200, body: { ok: true } } : { status: 503 });
    await start();
    await call('POST', '/v1/verify', verifyBody());
    const acked = new Promise((r) => env.bridge!.forwarder.once('acked', r));
    const out = { orderId: 'order-1', gateway: 'gw-a', status: 'failure', code: '51', type: 'soft', attempt: 1 };
    const r = await call('POST', '/v1/outcomes', out);
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ duplicate: false, queued: true });
    const key = r.json.idempotencyKey as string;
    expect(key).toMatch(/^ob-[0-9a-f]{40}$/);
    await acked;
    const [sent] = await env.svc.waitFor('/v1/outcomes');
    expect(sent.headers['idempotency-key']).toBe(key);
    expect(sent.body).toMatchObject({ idempotencyKey: key, orderId: 'order-1', token: testToken(PAN), bin: '411111', last4: '1111', amount: 1999, currency: 'USD', gateway: 'gw-a', status: 'failure', code: '51', type: 'soft' });
    expect(sent.raw).not.toContain(PAN);
    // the same report again is a duplicate: nothing new queued
    const again = await call('POST', '/v1/outcomes', out);
    expect(again.json.duplicate).toBe(true);
    expect(env.bridge!.outbox.depth().outcomesPending).toBe(0);
  });

  it('without an attempt number the key hashes the outcome', async () => {
    await start();
    await call('POST', '/v1/verify', verifyBody());
    const a = await call('POST', '/v1/outcomes', { orderId: 'order-1', gateway: 'gw-a', status: 'failure', code: '05' });
    const b = await call('POST', '/v1/outcomes', { orderId: 'order-1', gateway: 'gw-a', status: 'success' });
    expect(a.json.idempotencyKey).toMatch(/^ob-[0-9a-f]{40}$/);
    expect(b.json.idempotencyKey).not.toBe(a.json.idempotencyKey);
  });

  it('rejects an invalid status naming the field', async () => {
    await start();
    const r = await call('POST', '/v1/outcomes', { orderId: 'o', gateway: 'gw', status: 'ok' });
    expect(r.status).toBe(400);
    expect(r.json.error.field).toBe('status');
  });
});

describe('devices and pairing', () => {
  it('GET /v1/devices lists summaries', async () => {
    await start();
    const r = await call('GET', '/v1/devices');
    expect(r.json.devices).toHaveLength(1);
    expect(r.json.devices[0]).toMatchObject({ id: 'dev-1', link: 'usb', paired: true, datasetState: 'fresh' });
  });

  it('pairs in two calls: code, then confirm with the code', async () => {
    device.status.paired = false;
    await start();
    const first = await call('POST', '/v1/devices/dev-1/pair');
    expect(first.status).toBe(202);
    expect(first.json).toMatchObject({ status: 'confirm', code: '482916' });
    const again = await call('POST', '/v1/devices/dev-1/pair');
    expect(again.json.error.code).toBe('PAIRING_IN_PROGRESS');
    const second = await call('POST', '/v1/devices/dev-1/pair', { confirm: true, code: '482916' });
    expect(second.status).toBe(200);
    expect(second.json).toMatchObject({ status: 'paired', device: { id: 'dev-1', paired: true } });
  });

  it('refusal and a wrong code both leave the device unpaired', async () => {
    device.status.paired = false;
    await start();
    await call('POST', '/v1/devices/dev-1/pair');
    const no = await call('POST', '/v1/devices/dev-1/pair', { confirm: false });
    expect(no.json).toEqual({ status: 'rejected' });
    await call('POST', '/v1/devices/dev-1/pair');
    const wrong = await call('POST', '/v1/devices/dev-1/pair', { confirm: true, code: '000000' });
    expect(wrong.status).toBe(409);
    expect(wrong.json.error.code).toBe('PAIRING_REJECTED');
    expect(device.status.paired).toBe(false);
    const none = await call('POST', '/v1/devices/dev-1/pair', { confirm: true });
    expect(none.json.error.code).toBe('PAIRING_NOT_STARTED');
    const missing = await call('POST', '/v1/devices/zzz/pair');
    expect(missing.status).toBe(404);
  });
});

describe('sync, health, metrics, OpenAPI', () => {
  it('POST /v1/sync → 501 SYNC_NOT_CONFIGURED without a runner, the runner result with one', async () => {
    await start();
    const r = await call('POST', '/v1/sync', {});
    expect(r.status).toBe(501);
    expect(r.json.error.code).toBe('SYNC_NOT_CONFIGURED');
    await env.bridge!.close();
    const seen: unknown[] = [];
    await start({}, { syncRunner: async (req) => (seen.push(req), { devices: [{ id: 'dev-1', status: 'up-to-date' }] }) });
    const ok = await call('POST', '/v1/sync', { devices: ['dev-1'] });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ devices: [{ id: 'dev-1', status: 'up-to-date' }] });
    expect(seen).toEqual([{ devices: ['dev-1'] }]);
  });

  it('typed sync errors map to their status; unknown errors never leak their message', async () => {
    let err: Error = new SyncError('SYNC_BUSY', 'dev-1 is being synced by pid 42');
    await start({}, { syncRunner: async () => Promise.reject(err) });
    const busy = await call('POST', '/v1/sync', {});
    expect(busy.status).toBe(409);
    expect(busy.json.error).toEqual({ code: 'SYNC_BUSY', message: 'dev-1 is being synced by pid 42' });
    err = new Error(`library blew up on ${PAN}`);
    const internal = await call('POST', '/v1/sync', {});
    expect(internal.status).toBe(500);
    expect(internal.json.error.code).toBe('INTERNAL');
    expect(internal.text).not.toContain(PAN);
  });

  it('GET /v1/health reports devices with dataset age, breaker and outbox depth', async () => {
    device.status.datasetCreatedAt = Math.floor(Date.now() / 1000) - 7200;
    await start({ fallback: 'approve-below:5000' });
    const r = await call('GET', '/v1/health');
    expect(r.json).toMatchObject({ status: 'ok', fallback: 'approve-below:5000', network: { configured: true, breaker: 'closed' }, outbox: { outcomesPending: 0, reconciliationsPending: 0 } });
    expect(r.json.devices[0].datasetAgeS).toBeGreaterThanOrEqual(7200);
    expect(r.json.devices[0].datasetAgeS).toBeLessThan(7300);
    device.status.healthy = false;
    expect((await call('GET', '/v1/health')).json.status).toBe('degraded');
  });

  it('GET /v1/health judges expiry by the bridge clock: a status read while fresh is stale once past expiresAt', async () => {
    device.status.datasetExpiresAt = Math.floor(Date.now() / 1000) - 60;
    expect(device.status.datasetState).toBe('fresh');
    await start();
    expect((await call('GET', '/v1/health')).json.devices[0]).toMatchObject({ id: 'dev-1', datasetState: 'stale' });
  });

  it('GET /metrics is valid Prometheus text with verifications, latency, link errors, outbox, dataset age', async () => {
    env.svc.handler = () => ({ status: 503 });
    await start({ fallback: 'decline' });
    await call('POST', '/v1/verify', verifyBody());
    device.script = () => new ProtocolError('DISCONNECTED', 'unplugged');
    await call('POST', '/v1/verify', verifyBody({ order: { id: 'order-2', amount: { value: 5, currency: 'USD' } } }));
    const r = await call('GET', '/metrics');
    expect(r.type).toContain('text/plain');
    const samples = parseExposition(r.text);
    expect(samples.get('precheck_bridge_verifications_total{decision="approve",stage="local"}')).toBe(1);
    expect(samples.get('precheck_bridge_verifications_total{decision="decline",stage="fallback"}')).toBe(1);
    expect(samples.get('precheck_bridge_verify_duration_seconds_count{stage="local"}')).toBe(1);
    expect(samples.get('precheck_bridge_verify_duration_seconds_bucket{le="+Inf",stage="fallback"}')).toBe(1);
    expect(samples.get('precheck_bridge_device_link_errors_total{code="DISCONNECTED",device="dev-1"}')).toBe(1);
    expect(samples.get('precheck_bridge_outbox_depth{queue="reconciliations",status="pending"}')).toBe(1);
    expect(samples.get('precheck_bridge_dataset_age_seconds{device="dev-1"}')).toBeGreaterThanOrEqual(3600);
    expect(samples.has('precheck_bridge_network_breaker_state')).toBe(true);
  });

  it('GET /v1/openapi.json documents every route with its schemas', async () => {
    await start();
    const r = await call('GET', '/v1/openapi.json');
    expect(r.json.openapi).toMatch(/^3\./);
    const paths = r.json.paths;
    for (const [p, m] of [['/v1/verify', 'post'], ['/v1/outcomes', 'post'], ['/v1/devices', 'get'], ['/v1/devices/{id}/pair', 'post'], ['/v1/sync', 'post'], ['/v1/health', 'get'], ['/metrics', 'get'], ['/v1/openapi.json', 'get']]) {
      expect(paths[p]?.[m], `${m} ${p}`).toBeDefined();
    }
    const verifySchema = paths['/v1/verify'].post.requestBody.content['application/json'].schema;
    expect(verifySchema.required).toEqual(['card', 'order']);
    expect(paths['/v1/verify'].post.responses['422']).toBeDefined();
  });
});

/** Parse the exposition format strictly: every non-comment line is `name{labels} value`. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      typed.add(t[1]);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$/.exec(line);
    if (!m) throw new Error(`not exposition format: ${line}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    if (!typed.has(m[1]) && !typed.has(family)) throw new Error(`sample before its TYPE: ${line}`);
    out.set(m[1] + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}
void PAN2;

describe('rate limit', () => {
  it('answers 429 RATE_LIMITED past the configured requests per minute', async () => {
    await start({ rateLimit: { perMinute: 2 } });
    expect((await call('GET', '/v1/health')).status).toBe(200);
    expect((await call('GET', '/v1/health')).status).toBe(200);
    const third = await call('GET', '/v1/health');
    expect(third.status).toBe(429);
    expect(third.json.error.code).toBe('RATE_LIMITED');
  });
});
