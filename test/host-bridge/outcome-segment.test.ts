// Outcomes carry the order's segment (country, cross-border) to the network service, including
// for orders the local stage decided (the service never saw their /v1/auth), and an outbox written
// by the previous schema keeps working after the migration that added those columns.
import { beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { FakeRegistry, ScriptedDevice } from './device-double.ts';
import { bridgeEnvEachTest, startTestBridge, postJson } from './bridge-harness.ts';
import { Outbox } from '../../host-bridge/outbox/outbox-db.ts';
import { queueOutcome } from '../../host-bridge/outbox/outcomes.ts';

const PAN = '5555555555554444';
const env = bridgeEnvEachTest();
const post = (path: string, body: unknown) => postJson(env.bridge!.url, path, body);

beforeEach(() => {
  env.svc.handler = (r) => (r.path === '/v1/outcomes' ? { status: 200, body: { outcomeId: 'x' } } : { status: 503 });
});

async function startWith(decision: 'decline' | 'escalate', merchantCountry: string | null = 'US') {
  const device = new ScriptedDevice('dev-1', () => ({ decision, reason: decision === 'decline' ? 'restricted' : 'unknown_card' }));
  const raw = { network: { serviceUrl: env.svc.url, retries: 0 }, ...(merchantCountry ? { merchant: { country: merchantCountry } } : {}) };
  env.bridge = await startTestBridge({ dataDir: env.dir.path, registry: new FakeRegistry([device]), raw });
}

async function outcomeFor(orderId: string, country?: string) {
  const v = await post('/v1/verify', { card: { number: PAN, expMonth: 1, expYear: 2031 }, order: { id: orderId, amount: { value: 900, currency: 'USD' }, ...(country ? { country } : {}) } });
  const acked = new Promise((r) => env.bridge!.forwarder.once('acked', r));
  expect((await post('/v1/outcomes', { orderId, gateway: 'gw-a', status: 'failure', code: '05', type: 'hard', attempt: 1 })).status).toBe(202);
  await acked;
  const sent = (await env.svc.waitFor('/v1/outcomes')).find((r) => (r.body as { orderId: string }).orderId === orderId)!;
  return { stage: v.json.stage as string, body: sent.body as Record<string, unknown> };
}

describe('outcomes carry the order segment', () => {
  it('a locally-decided cross-border order: the outcome says country and crossBorder: true', async () => {
    await startWith('decline');
    const { stage, body } = await outcomeFor('seg-1', 'DE');
    expect(stage).toBe('local');
    expect(env.svc.requests.some((r) => r.path === '/v1/auth')).toBe(false); // the service never saw the order
    expect(body).toMatchObject({ orderId: 'seg-1', country: 'DE', crossBorder: true });
  });

  it('a domestic order says crossBorder: false; an order without a country sends no segment', async () => {
    await startWith('decline');
    expect((await outcomeFor('seg-2', 'US')).body).toMatchObject({ country: 'US', crossBorder: false });
    const none = (await outcomeFor('seg-3')).body;
    expect(none).not.toHaveProperty('country');
    expect(none).not.toHaveProperty('crossBorder');
  });

  it('a network-decided order with the flag unknown here sends no segment (the service keeps what its /v1/auth knew)', async () => {
    env.svc.handler = (r) => (r.path === '/v1/outcomes' ? { status: 200, body: {} } : { status: 200, body: { decision: 'approve', reason: 'ok', prompt: null, gateway: null } });
    await startWith('escalate', null);
    const { stage, body } = await outcomeFor('seg-4', 'DE');
    expect(stage).toBe('network');
    expect(body).not.toHaveProperty('country');
    expect(body).not.toHaveProperty('crossBorder');
  });
});

describe('outbox schema migration', () => {
  // The version-1 verifications table, as bridges before the migration wrote it.
  const V1 = `CREATE TABLE verifications (id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, token TEXT, bin TEXT NOT NULL, last4 TEXT NOT NULL,
    brand TEXT, amount INTEGER NOT NULL, currency TEXT NOT NULL, decision TEXT NOT NULL, stage TEXT NOT NULL, reason TEXT NOT NULL,
    device_id TEXT, dataset_version INTEGER, gateway TEXT, at INTEGER NOT NULL);`;

  it('opens a version-1 outbox, keeps its rows (segment unknown), and records the segment for new ones', () => {
    const path = join(env.dir.path, 'outbox.sqlite');
    const old = new Database(path);
    old.exec(V1);
    old.prepare(`INSERT INTO verifications (order_id, token, bin, last4, brand, amount, currency, decision, stage, reason, at)
      VALUES ('old-1', NULL, '555555', '4444', 'mastercard', 100, 'EUR', 'approve', 'local', 'known_good', 1700000000)`).run();
    old.pragma('user_version = 1');
    old.close();

    const outbox = Outbox.open(env.dir.path);
    try {
      expect(outbox.latestVerification('old-1')).toMatchObject({ orderId: 'old-1', amount: 100, country: null, crossBorder: null });
      queueOutcome(outbox, { orderId: 'old-1', gateway: 'gw', status: 'success' }, 1_700_000_100_000);
      const [q] = outbox.dueOutcomes(1_700_000_100_000);
      expect(q!.payload).toMatchObject({ orderId: 'old-1', bin: '555555' });
      expect(q!.payload).not.toHaveProperty('country');
      expect(q!.payload).not.toHaveProperty('crossBorder');

      const base = { token: null, bin: '555555', last4: '4444', brand: null, amount: 1, currency: 'EUR', decision: 'decline', stage: 'local', reason: 'r', deviceId: null, datasetVersion: null, gateway: null, at: 1 };
      outbox.recordVerification({ ...base, orderId: 'new-1', country: 'FR', crossBorder: true });
      expect(outbox.latestVerification('new-1')).toMatchObject({ country: 'FR', crossBorder: true });
    } finally {
      outbox.close();
    }
    const check = new Database(path);
    expect(check.pragma('user_version', { simple: true })).toBe(2);
    check.close();
    // Reopening an already-migrated file is a no-op (no duplicate-column error).
    Outbox.open(env.dir.path).close();
  });
});
