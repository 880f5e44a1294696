// Security and error behaviour of the HTTP API: schema, size, caller auth, rate limit, idempotency,
// OpenAPI document, key files.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authBody, outcomeBody, randomToken, startHarness, type Harness } from './helpers.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('request validation', () => {
  it.each([
    ['a missing bin', (() => { const b = authBody(randomToken()); delete b.bin; return b; })()],
    ['an unknown field', { ...authBody(randomToken()), extra: 1 }],
    ['an upper-case token', authBody(randomToken().toUpperCase())],
    ['a string amount', authBody(randomToken(), {}, { amount: { value: '10', currency: 'USD' } })],
    ['a bad currency', authBody(randomToken(), {}, { amount: { value: 10, currency: 'usd' } })],
    ['a bad month', authBody(randomToken(), { expMonth: 13 })],
  ])('refuses %s with 400 INVALID_FIELD', async (_n, body) => {
    const r = await h.call('POST', '/v1/auth', body);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('INVALID_FIELD');
    expect(typeof r.json.error.message).toBe('string');
  });

  it('refuses malformed JSON, a wrong content type and an oversized body', async () => {
    const bad = await h.call('POST', '/v1/auth', '{"token": ');
    expect([bad.status, bad.json.error.code]).toEqual([400, 'MALFORMED']);
    const type = await h.call('POST', '/v1/auth', 'token=1', undefined, { 'content-type': 'application/x-www-form-urlencoded' });
    expect([type.status, type.json.error.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const big = await h.call('POST', '/v1/auth', { ...authBody(randomToken()), pad: 'x'.repeat(70 * 1024) });
    expect([big.status, big.json.error.code]).toEqual([413, 'TOO_LARGE']);
  });

  it('takes the restricted import only as text/plain or text/csv', async () => {
    const r = await h.admin('POST', '/v1/admin/restricted/import', { lines: ['x'] });
    expect([r.status, r.json.error.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('answers unknown routes with 404 NOT_FOUND in the error format', async () => {
    const r = await h.call('GET', '/v1/nope');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('NOT_FOUND');
  });
});

describe('caller authentication', () => {
  it('requires a valid bridge key for /v1/auth, and an admin key for /v1/admin', async () => {
    const body = authBody(randomToken());
    expect((await h.call('POST', '/v1/auth', body, null)).json.error.code).toBe('UNAUTHORIZED');
    expect((await h.call('POST', '/v1/auth', body, 'pk_notarealkey123')).status).toBe(401);
    expect((await h.call('POST', '/v1/auth', body, h.s.adminKey)).status).toBe(403);
    const asBridge = await h.call('POST', '/v1/admin/gateways', { name: 'x' });
    expect([asBridge.status, asBridge.json.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await h.call('GET', '/v1/health', undefined, null)).status).toBe(200);
    expect((await h.call('GET', '/v1/datasets/latest', undefined, null)).status).toBe(401);
  });

  it('issues keys stored only as hashes, and revoked keys stop working', async () => {
    const issued = await h.admin('POST', '/v1/admin/keys', { merchant: 'shop-9', label: 'till 1' });
    expect(issued.status).toBe(200);
    expect(issued.json.key).toMatch(/^pk_[A-Za-z0-9_-]{32}$/);
    expect((await h.call('POST', '/v1/auth', authBody(randomToken()), issued.json.key)).status).toBe(200);
    const list = await h.admin('GET', '/v1/admin/keys');
    expect(JSON.stringify(list.json)).not.toContain(issued.json.key);
    expect(list.json.keys.find((k: any) => k.id === issued.json.id)).toMatchObject({ merchant: 'shop-9', role: 'bridge' });
    const db = fs.readFileSync(h.s.databaseFile);
    const wal = fs.readFileSync(`${h.s.databaseFile}-wal`);
    expect(db.includes(issued.json.key) || wal.includes(issued.json.key)).toBe(false);
    expect((await h.admin('DELETE', `/v1/admin/keys/${issued.json.id}`)).status).toBe(200);
    expect((await h.call('POST', '/v1/auth', authBody(randomToken()), issued.json.key)).status).toBe(401);
  });

  it('keeps key files at mode 0600 and serves the signing public key', async () => {
    for (const f of ['card.key', 'signing.key', 'admin.key', 'precheck.db']) {
      expect((fs.statSync(path.join(h.dir, f)).mode & 0o777).toString(8), f).toBe('600');
    }
    expect(fs.readFileSync(path.join(h.dir, 'admin.key'), 'utf8').trim()).toBe(h.s.adminKey);
    const k = await h.call('GET', '/v1/keys/dataset', undefined, null);
    expect(k.json.publicKey).toBe(Buffer.from(h.s.signingPublicKey).toString('hex'));
  });

  it('registers devices and their paired hosts', async () => {
    expect((await h.admin('POST', '/v1/admin/devices', { id: 'dev-1', merchant: 'merchant-a', kind: 'rs485', label: 'till' })).status).toBe(200);
    expect((await h.admin('POST', '/v1/admin/devices/dev-1/hosts', { hostId: 'host-1', publicKey: 'ab'.repeat(32) })).status).toBe(200);
    expect((await h.admin('POST', '/v1/admin/devices/nope/hosts', { hostId: 'host-1' })).status).toBe(404);
    const list = await h.admin('GET', '/v1/admin/devices');
    expect(list.json.devices).toEqual([
      expect.objectContaining({ id: 'dev-1', kind: 'rs485', hosts: [expect.objectContaining({ hostId: 'host-1', publicKey: 'ab'.repeat(32) })] }),
    ]);
  });

  it("a device's kind is one of the link kinds (protocol/link-kind.ts), or the older 'emulator'", async () => {
    for (const kind of ['hid-cable', 'ble-cable', 'usb', 'emulator']) {
      expect((await h.admin('POST', '/v1/admin/devices', { id: `dev-${kind}`, merchant: 'merchant-a', kind })).status, kind).toBe(200);
    }
    expect((await h.admin('POST', '/v1/admin/devices', { id: 'dev-x', merchant: 'merchant-a', kind: 'hid' })).status).toBe(400);
  });
});

describe('outcomes are idempotent', () => {
  it('a retried outcome gets the same answer and makes no second row; a changed one is a conflict', async () => {
    const before = (await h.admin('GET', '/v1/admin/stats')).json.outcomes;
    const body = outcomeBody(randomToken(), { status: 'failure', code: '07', type: 'fraud' });
    const first = await h.call('POST', '/v1/outcomes', body);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ restricted: true, knownGood: false });
    const second = await h.call('POST', '/v1/outcomes', body);
    expect(second.json).toEqual(first.json);
    expect(second.headers.get('idempotent-replay')).toBe('true');
    expect((await h.admin('GET', '/v1/admin/stats')).json.outcomes).toBe(before + 1);
    const changed = await h.call('POST', '/v1/outcomes', { ...body, amount: 1 });
    expect([changed.status, changed.json.error.code]).toEqual([409, 'CONFLICT']);
    // The same key from another merchant is a different outcome.
    const other = await h.s.issueKey('merchant-z');
    expect((await h.call('POST', '/v1/outcomes', body, other.key)).json.outcomeId).not.toBe(first.json.outcomeId);
  });
});

describe('OpenAPI', () => {
  it('serves /v1/openapi.json listing every route with its schema', async () => {
    const r = await h.call('GET', '/v1/openapi.json', undefined, null);
    expect(r.status).toBe(200);
    expect(r.json.openapi).toMatch(/^3\./);
    const paths = Object.keys(r.json.paths);
    for (const p of ['/v1/auth', '/v1/outcomes', '/v1/datasets/latest', '/v1/datasets/{version}/manifest', '/v1/datasets/{version}/chunks/{n}', '/v1/datasets/delta', '/v1/firmware/latest', '/v1/keys/dataset', '/v1/admin/restricted/import', '/v1/admin/publish', '/v1/admin/keys']) {
      expect(paths).toContain(p);
    }
    const authSchema = r.json.paths['/v1/auth'].post.requestBody.content['application/json'].schema;
    // token is optional (no device answered → no card key on the bridge), and the document says so
    expect(authSchema.required).not.toContain('token');
    expect(authSchema.required).toEqual(expect.arrayContaining(['bin', 'last4', 'expMonth', 'expYear', 'order']));
    expect(authSchema.properties.token.description).toMatch(/absent when no device answered/);
    expect(authSchema.additionalProperties).toBe(false);
    const outcomeSchema = r.json.paths['/v1/outcomes'].post.requestBody.content['application/json'].schema;
    expect(outcomeSchema.required).not.toContain('token');
    expect(outcomeSchema.properties).toHaveProperty('crossBorder');
  });
});

describe('rate limit', () => {
  it('limits each key separately and answers 429 RATE_LIMITED', async () => {
    const x = await startHarness({ rateLimitMax: 5, rateLimitWindowMs: 60_000 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await x.call('GET', '/v1/datasets/latest')).status);
      expect(statuses.slice(0, 5).every((s) => s === 200)).toBe(true);
      const limited = await x.call('GET', '/v1/datasets/latest');
      expect([limited.status, limited.json.error.code]).toEqual([429, 'RATE_LIMITED']);
      expect(limited.headers.get('retry-after')).toBe('60');
      // another key still has its budget
      const other = await x.s.issueKey('merchant-other');
      expect((await x.call('GET', '/v1/datasets/latest', undefined, other.key)).status).toBe(200);
    } finally {
      await x.close();
    }
  });
});
