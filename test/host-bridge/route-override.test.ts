// The bridge sees every outcome it forwards: a local answer whose device-recommended gateway is
// failing now (a burst of technical failures in the last minute) goes to the device's next
// alternative, and a gateway that just declined this very card is avoided, as the network path
// does — before any dataset could tell the device. Issuer declines never make a gateway "failing".
// Real bridge (HTTP, SQLite outbox), scripted device and service.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeRegistry, ScriptedDevice } from './device-double.ts';
import { ScriptedService } from './scripted-service.ts';
import { makeTempDir } from './temp-dir.ts';
import { startTestBridge, type TestBridge, postJson } from './bridge-harness.ts';

let dir: ReturnType<typeof makeTempDir>;
let svc: ScriptedService;
let bridge: TestBridge;
let device: ScriptedDevice;
let n = 0;

const PAN = '4111111111111111';
const OTHER = ['4012888888881881', '4000056655665556', '4242424242424242', '4000000000000002', '4000000000000010'];

const post = (path: string, body: unknown) => postJson(bridge.url, path, body);
async function verify(pan = PAN): Promise<{ orderId: string; gateway: string | null; stage: string }> {
  const id = `o-${++n}`;
  const r = await post('/v1/verify', { card: { number: pan, expMonth: 12, expYear: 2031 }, order: { id, amount: { value: 2500, currency: 'USD' }, country: 'US' } });
  expect(r.status).toBe(200);
  return r.json;
}
async function report(orderId: string, gateway: string, status: 'success' | 'failure', extra: Record<string, unknown> = {}) {
  expect((await post('/v1/outcomes', { orderId, gateway, status, ...extra })).status).toBe(202);
}

beforeEach(async () => {
  dir = makeTempDir();
  svc = await new ScriptedService().start();
  svc.handler = () => ({ status: 200, body: { outcomeId: 'x', restricted: false, knownGood: false } });
  // the device's dataset ranks gw-a first in this segment, then gw-b, gw-c
  device = new ScriptedDevice('dev-1', () => ({ decision: 'approve', reason: 'known_good', brand: 'visa', gateway: 'gw-a', alternatives: ['gw-b', 'gw-c'] }));
  bridge = await startTestBridge({ dataDir: dir.path, raw: { network: { serviceUrl: svc.url } }, registry: new FakeRegistry([device]) });
});
afterEach(async () => {
  await bridge.close();
  await svc.close();
  dir.remove();
});

describe('the bridge overrides a device route', () => {
  it('when the gateway is failing now: technical failures of other cards move the next card to the alternative', async () => {
    expect((await verify()).gateway).toBe('gw-a');
    for (const pan of OTHER.slice(0, 3)) {
      const o = await verify(pan);
      await report(o.orderId, 'gw-a', 'failure', { code: '68', type: 'technical' });
    }
    expect(await verify()).toMatchObject({ stage: 'local', gateway: 'gw-b' });
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(metrics).toMatch(/precheck_bridge_route_overrides_total\{reason="failing"\} 1/);
    expect(metrics).toMatch(/precheck_bridge_gateway_failing\{gateway="gw-a"\} 1/);
    // approvals at gw-a bring it back (the failures are no longer the majority of its window)
    for (const pan of OTHER.slice(0, 4)) {
      const o = await verify(pan);
      await report(o.orderId, 'gw-a', 'success');
    }
    expect((await verify()).gateway).toBe('gw-a');
  });

  it('issuer declines of other cards do not make a gateway failing', async () => {
    for (const pan of OTHER) {
      const o = await verify(pan);
      await report(o.orderId, 'gw-a', 'failure', { code: '05', type: 'soft' });
    }
    expect((await verify()).gateway).toBe('gw-a');
  });

  it('the gateway that just declined this very card is avoided on the next local answer', async () => {
    const first = await verify();
    expect(first.gateway).toBe('gw-a');
    // a generic 05 (a 51 would send the card to the network: recent-decline.test.ts)
    await report(first.orderId, 'gw-a', 'failure', { code: '05', type: 'soft' });
    expect(await verify()).toMatchObject({ stage: 'local', gateway: 'gw-b' });
    // another card is not affected
    expect((await verify(OTHER[0])).gateway).toBe('gw-a');
    // a technical failure says nothing about the card: it does not clear or set the mark
    const again = await verify();
    await report(again.orderId, 'gw-b', 'failure', { code: '68', type: 'technical' });
    expect((await verify()).gateway).toBe('gw-b');
  });
});
