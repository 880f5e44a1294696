// Gateway routing through the real network service: outcomes ingested by POST /v1/outcomes move
// the recommendation in /v1/auth answers; an outage eliminates a gateway; a restart rebuilds the
// window from the stored outcomes; the dataset's routes come from the same router.
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { serversEachTest, uid } from '../helpers.ts';

const T0 = 1_700_000_000;
const scope = serversEachTest();

async function boot(dir: string, clock: { t: number }) {
  const s = await scope.start({ dataDir: dir, now: () => clock.t * 1000, routing: { explorationShare: 0 } });
  const key = (await s.issueKey('merchant-r')).key;
  const call = async (method: string, p: string, body: unknown, k = key) => {
    const res = await fetch(s.url + p, { method, headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any };
  };
  return { s, call, admin: (m: string, p: string, b: unknown) => call(m, p, b, s.adminKey) };
}

const token = () => crypto.randomBytes(16).toString('hex');
const authBody = (currency = 'EUR', amount = 5000) => ({
  token: token(), bin: '411111', last4: '1111', brand: 'visa', expMonth: 12, expYear: 2099,
  order: { id: `o-${uid()}`, amount: { value: amount, currency } },
});
const outcome = (gateway: string, status: 'success' | 'failure', at: number, extra: Record<string, unknown> = {}) => ({
  idempotencyKey: uid(), token: token(), bin: '411111', last4: '1111', brand: 'visa',
  orderId: `o-${uid()}`, amount: 5000, currency: 'EUR', gateway, status, at, ...extra,
});

describe('gateway routing through the HTTP service', () => {
  it('recommends by success rate, eliminates on an outage, and rebuilds from stored outcomes after a restart', async () => {
    const dir = scope.tempDir('precheck-routing-');
    const clock = { t: T0 };
    let svc = await boot(dir, clock);
    await svc.admin('POST', '/v1/admin/gateways', { name: 'gw-a', feePerAttempt: 30, feeBps: 0 });
    await svc.admin('POST', '/v1/admin/gateways', { name: 'gw-b', feePerAttempt: 10, feeBps: 0 });
    for (let i = 0; i < 25; i++) {
      expect((await svc.call('POST', '/v1/outcomes', outcome('gw-a', i % 10 === 0 ? 'failure' : 'success', T0 - 60, i % 10 === 0 ? { code: '05', type: 'soft' } : {}))).status).toBe(200);
      expect((await svc.call('POST', '/v1/outcomes', outcome('gw-b', i % 3 === 0 ? 'failure' : 'success', T0 - 60, i % 3 === 0 ? { code: '05', type: 'soft' } : {}))).status).toBe(200);
    }
    const a1 = await svc.call('POST', '/v1/auth', authBody());
    expect(a1.status).toBe(200);
    expect(a1.json).toMatchObject({ gateway: 'gw-a', route: { explored: false, segmentLevel: 'brand+country+currency+band', eliminated: [] } });
    expect(a1.json.route.successRate).toBeGreaterThan(0.85);
    expect(a1.json.modelVersion).toBe('trust-prior-v1');

    // Outage: five technical failures in a row on gw-a.
    for (let i = 0; i < 5; i++) await svc.call('POST', '/v1/outcomes', outcome('gw-a', 'failure', T0 - 10, { code: 'timeout', type: 'technical' }));
    const a2 = await svc.call('POST', '/v1/auth', authBody());
    expect(a2.json).toMatchObject({ gateway: 'gw-b', route: { eliminated: ['gw-a'] } });

    // Restart on the same data: the window (and the elimination) is rebuilt from stored outcomes.
    await scope.stop(svc.s);
    svc = await boot(dir, clock);
    const a3 = await svc.call('POST', '/v1/auth', authBody());
    expect(a3.json).toMatchObject({ gateway: 'gw-b', route: { eliminated: ['gw-a'] } });
    // After the cool-down a probe goes to gw-a; its success brings it back.
    clock.t = T0 + 300;
    const probe = await svc.call('POST', '/v1/auth', authBody());
    expect(probe.json).toMatchObject({ gateway: 'gw-a', route: { explored: true } });
    await svc.call('POST', '/v1/outcomes', outcome('gw-a', 'success', clock.t));
    expect((await svc.call('POST', '/v1/auth', authBody())).json).toMatchObject({ gateway: 'gw-a', route: { explored: false, eliminated: [] } });

    // The dataset's routes are the router's first choice per brand × currency (a device picks
    // the best success rate among what it holds, so it must hold only the value-ranked winner).
    const pub = await svc.admin('POST', '/v1/admin/publish', {});
    expect(pub.status).toBe(200);
    const routes = await svc.s.service.router.routesTable();
    const ranked = svc.s.service.router.router.routesTable();
    expect(ranked.map((r) => r.gateway).sort()).toEqual(['gw-a', 'gw-b']);
    expect(routes).toEqual([{ brand: 'visa', currency: 'EUR', gateway: ranked[0].gateway, successRate: ranked[0].successRate }]);
  });

  it("counts a returning card's answers at a gateway once (its first), live and after a restart (the card key is replayed from storage)", async () => {
    const dir = scope.tempDir('precheck-routing-');
    const clock = { t: T0 };
    let svc = await boot(dir, clock);
    await svc.admin('POST', '/v1/admin/gateways', { name: 'gw-a', feePerAttempt: 10, feeBps: 0 });
    await svc.admin('POST', '/v1/admin/gateways', { name: 'gw-b', feePerAttempt: 30, feeBps: 0 });
    const post = async (o: Record<string, unknown>) => expect((await svc.call('POST', '/v1/outcomes', o)).status).toBe(200);
    // gw-a: 25 new cards, 15 approved (60 %), and one returning card approved 30 times
    for (let i = 0; i < 25; i++) await post(outcome('gw-a', i < 15 ? 'success' : 'failure', T0 - 60, i < 15 ? {} : { code: '05', type: 'soft' }));
    const returning = token();
    for (let i = 0; i < 30; i++) await post(outcome('gw-a', 'success', T0 - 60, { token: returning }));
    // gw-b: 25 new cards, 19 approved (76 %)
    for (let i = 0; i < 25; i++) await post(outcome('gw-b', i < 19 ? 'success' : 'failure', T0 - 60, i < 19 ? {} : { code: '05', type: 'soft' }));
    const check = async () => {
      // counted 30 times gw-a had 45/55 = 82 % and took the order
      expect((await svc.call('POST', '/v1/auth', authBody())).json).toMatchObject({ gateway: 'gw-b', route: { explored: false } });
      expect(svc.s.service.router.router.stats().repeats).toBe(29);
    };
    await check();
    await scope.stop(svc.s);
    svc = await boot(dir, clock);
    await check();
  });
});
