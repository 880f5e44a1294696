// The bridge ↔ network service contract, exercised with both real: the bridge's /v1/auth and
// /v1/outcomes bodies must pass the service's own JSON schemas, or every network-stage answer
// silently turns into a fallback and no outcome is ever learnt from.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { startServer } from '../../server/start.ts';
import { FakeRegistry, ScriptedDevice } from '../host-bridge/device-double.ts';
import { startTestBridge, waitForPass, type TestBridge } from '../host-bridge/bridge-harness.ts';
import { makeTempDir } from '../host-bridge/temp-dir.ts';

const PAN = '4000056655665556';

describe('bridge → network service contract (both real, on loopback)', () => {
  const serverDir = makeTempDir('precheck-contract-server-');
  const bridgeDir = makeTempDir('precheck-contract-bridge-');
  let server: Awaited<ReturnType<typeof startServer>>;
  let bridge: TestBridge;
  const device = new ScriptedDevice('dev-1', () => ({ decision: 'escalate', reason: 'unknown_card' }));

  beforeAll(async () => {
    server = await startServer({ dataDir: serverDir.path, port: 0, host: '127.0.0.1' });
    const issued = await fetch(`${server.url}/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ merchant: 'contract-shop' }),
    }).then((r) => r.json() as Promise<{ key: string }>);
    bridge = await startTestBridge({
      dataDir: bridgeDir.path,
      registry: new FakeRegistry([device]),
      raw: { network: { serviceUrl: server.url, apiKey: issued.key, timeoutMs: 5000 }, merchant: { country: 'US' } },
    });
  });

  afterAll(async () => {
    await bridge?.close();
    await server?.close();
    serverDir.remove();
    bridgeDir.remove();
  });

  const verify = (orderId: string, extra: Record<string, unknown> = {}) =>
    fetch(`${bridge.url}/v1/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        card: { number: PAN, expMonth: 12, expYear: 2031 },
        order: { id: orderId, amount: { value: 2500, currency: 'EUR' }, country: 'DE' },
        customer: { accountId: 'acct-7', ip: '203.0.113.9' },
        ...extra,
      }),
    }).then((r) => r.json() as Promise<Record<string, unknown>>);

  /** Verify one order with the device answering `script` instead of escalating. */
  const verifyWithDevice = async (orderId: string, script: typeof device.script) => {
    device.script = script;
    try {
      return await verify(orderId);
    } finally {
      device.script = () => ({ decision: 'escalate', reason: 'unknown_card' });
    }
  };

  /** Post outcomes to the bridge (each accepted, 202) and count what the service acked or rejected. */
  const forwardOutcomes = async (bodies: Record<string, unknown>[]) => {
    let acked = 0;
    let rejected = 0;
    const settled = waitForPass(bridge.forwarder, (p) => {
      acked += p.acked;
      rejected += p.rejected;
      return acked + rejected >= bodies.length;
    });
    for (const body of bodies) {
      const res = await fetch(`${bridge.url}/v1/outcomes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(202);
    }
    await settled;
    return { acked, rejected };
  };

  it('an escalated card is answered by the network stage, not the fallback', async () => {
    const r = await verify('contract-1');
    expect(r.stage).toBe('network');
    expect(['approve', 'review', 'decline']).toContain(r.decision);
  });

  it('a device error still reaches the network stage (as an escalation, without a token)', async () => {
    const r = await verifyWithDevice('contract-2', () => Object.assign(new Error('link down'), { code: 'DISCONNECTED' }));
    expect(r.stage).toBe('network');
  });

  it('outcomes of an order verified without a device (no token) are accepted too', async () => {
    expect((await verifyWithDevice('contract-4', () => Object.assign(new Error('link down'), { code: 'DISCONNECTED' }))).stage).toBe('network');
    expect(await forwardOutcomes([{ orderId: 'contract-4', gateway: 'gw-a', status: 'failure', code: '43', type: 'hard', attempt: 1 }])).toEqual({ acked: 1, rejected: 0 });
  });

  it('an outcome of a locally-decided cross-border order (with its segment) is accepted', async () => {
    expect((await verifyWithDevice('contract-5', () => ({ decision: 'decline', reason: 'restricted' }))).stage).toBe('local');
    expect(await forwardOutcomes([{ orderId: 'contract-5', gateway: 'gw-a', status: 'failure', code: '05', type: 'hard', attempt: 1 }])).toEqual({ acked: 1, rejected: 0 });
    // The service stored the outcome in the order's segment (DE order, US merchant), though it
    // never authenticated the order itself. Read through its own database file, read-only.
    const db = new Database(join(serverDir.path, 'precheck.db'), { readonly: true });
    try {
      expect(db.prepare(`SELECT country, cross_border AS crossBorder FROM outcomes WHERE order_id = ?`).all('contract-5')).toEqual([{ country: 'DE', crossBorder: 1 }]);
    } finally {
      db.close();
    }
  });

  it('success and failure outcomes are accepted by the service (acked, none rejected)', async () => {
    await verify('contract-3');
    const outcomes = [
      { orderId: 'contract-3', gateway: 'gw-a', status: 'failure', code: '51', type: 'soft', attempt: 1 },
      { orderId: 'contract-3', gateway: 'gw-b', status: 'success', attempt: 2 },
    ];
    expect(await forwardOutcomes(outcomes)).toEqual({ acked: 2, rejected: 0 });
  });
});
