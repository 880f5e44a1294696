// /v1/openapi.json cannot drift from what the routes validate: its verify and outcomes request
// schemas equal the schema objects the routes are built with, each route enforces them, and the
// field rules the operations guide states are the schemas' own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import * as S from '../../host-bridge/api/schemas.ts';
import { outcomeBody as serviceOutcomeBody, authBody as serviceAuthBody } from '../../server/http/schemas.ts';
import { FakeRegistry, ScriptedDevice } from './device-double.ts';
import { makeTempDir } from './temp-dir.ts';
import { startTestBridge, type TestBridge, postJson } from './bridge-harness.ts';

const dir = makeTempDir();
let bridge: TestBridge;
let doc: any;

const post = (path: string, body: unknown) => postJson(bridge.url, path, body);

beforeAll(async () => {
  const device = new ScriptedDevice('dev-1', () => ({ decision: 'decline', reason: 'restricted' }));
  bridge = await startTestBridge({ dataDir: dir.path, registry: new FakeRegistry([device]) });
  doc = await (await request(bridge.url + '/v1/openapi.json')).body.json();
});
afterAll(async () => {
  await bridge?.close();
  dir.remove();
});

const requestSchema = (path: string) => doc.paths[path].post.requestBody.content['application/json'].schema;
const plain = (x: unknown) => JSON.parse(JSON.stringify(x));

describe('OpenAPI document ↔ route schemas', () => {
  it('verify and outcomes request schemas are exactly the ones the routes validate with', () => {
    expect(requestSchema('/v1/verify')).toEqual(plain(S.verifyBody));
    expect(requestSchema('/v1/outcomes')).toEqual(plain(S.outcomeBody));
  });

  it('every route is listed with its request and response schemas', () => {
    const ops: Array<[string, string, boolean]> = [
      ['/v1/verify', 'post', true],
      ['/v1/outcomes', 'post', true],
      ['/v1/devices', 'get', false],
      ['/v1/devices/{id}/pair', 'post', true],
      ['/v1/sync', 'post', true],
      ['/v1/health', 'get', false],
      ['/metrics', 'get', false],
      ['/v1/openapi.json', 'get', false],
    ];
    for (const [p, m, hasBody] of ops) {
      const op = doc.paths[p]?.[m];
      expect(op, `${m} ${p}`).toBeDefined();
      if (hasBody) expect(op.requestBody?.content?.['application/json']?.schema, `${m} ${p} request`).toBeDefined();
      const ok = op.responses['200'] ?? op.responses['202'];
      expect(Object.values(ok.content ?? {})[0], `${m} ${p} response`).toHaveProperty('schema');
    }
    expect(Object.keys(doc.paths).sort()).toEqual(ops.map(([p]) => p).sort());
    expect(doc.paths['/metrics'].get.responses['200'].content).toHaveProperty('text/plain');
  });

  it('the routes enforce those schemas: the order id rule at 64/65 characters and its pattern', async () => {
    const verify = (id: string) => post('/v1/verify', { card: { number: '4111111111111111', expMonth: 12, expYear: 2031 }, order: { id, amount: { value: 1, currency: 'EUR' } } });
    expect((await verify('a'.repeat(64))).status).toBe(200);
    expect((await verify('a'.repeat(65))).status).toBe(400);
    expect((await verify('order 1')).status).toBe(400);
    expect((await post('/v1/outcomes', { orderId: 'a'.repeat(65), gateway: 'gw', status: 'success' })).status).toBe(400);
    expect((await post('/v1/outcomes', { orderId: 'a'.repeat(64), gateway: 'gw', status: 'failure', type: 'chargeback' })).status).toBe(400);
    expect((await post('/v1/outcomes', { orderId: 'a'.repeat(64), gateway: 'gw', status: 'failure', code: '051-x' })).status).toBe(400);
    expect((await post('/v1/outcomes', { orderId: 'a'.repeat(64), gateway: 'gw', status: 'failure', code: '05', type: 'fraud' })).status).toBe(202);
  });

  it('what the bridge forwards follows the service rules (no value accepted here and refused there)', () => {
    const svcOrder = serviceAuthBody.properties.order.properties;
    const order = S.verifyBody.properties.order.properties;
    expect(order.id).toEqual(svcOrder.id);
    expect(S.outcomeBody.properties.orderId).toEqual(serviceOutcomeBody.properties.orderId);
    expect(S.outcomeBody.properties.type.enum).toEqual(serviceOutcomeBody.properties.type.enum);
    expect(S.outcomeBody.properties.code.pattern).toBe(serviceOutcomeBody.properties.code.pattern);
    const svcCustomer = serviceAuthBody.properties.customer.properties;
    const customer = S.verifyBody.properties.customer.properties;
    for (const k of ['accountId', 'deviceId'] as const) {
      expect(customer[k].pattern).toBe(svcCustomer[k].pattern);
      expect(customer[k].maxLength).toBeLessThanOrEqual(svcCustomer[k].maxLength);
    }
    expect(customer.ip.pattern).toBe(svcCustomer.ip.pattern);
    expect(S.verifyBody.properties.lang.maxLength).toBeLessThanOrEqual(serviceAuthBody.properties.lang.maxLength);
  });

  it('the operations guide states the schemas’ rules', () => {
    const guide = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const section = guide.slice(guide.indexOf('## Host bridge'), guide.indexOf('\n## ', guide.indexOf('## Host bridge') + 1));
    const id = S.outcomeBody.properties.orderId;
    expect(section).toContain(`1–${id.maxLength} characters of \`${id.pattern.slice(2, -3)}\``);
    expect(section).toContain(`type?: ${S.outcomeBody.properties.type.enum.join('\\|')}`);
    expect(S.outcomeBody.properties.code.pattern).toBe('^[A-Za-z0-9]{1,8}$');
    expect(section).toContain('`code` 1–8 letters or digits');
  });
});
