// The dataset's routes follow the market per segment: the service publishes, next to its
// brand × currency ranking, the ranking of each domestic/cross-border × amount-band segment where
// it differs, and the gateways it has eliminated with the time each elimination ends. Real
// service over HTTP, real SQLite, the published snapshot read back through its signed manifest.
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { serversEachTest, uid } from './helpers.ts';

const T0 = 1_700_000_000;
const scope = serversEachTest();

describe('dataset routes per segment and gateway health', () => {
  it('publishes segment rankings where they differ from brand × currency, and the eliminated gateway with its expiry', async () => {
    const clock = { t: T0 };
    const s = await scope.start({ dataDir: scope.tempDir('precheck-dsroutes-'), now: () => clock.t * 1000, routing: { explorationShare: 0 } });
    const key = (await s.issueKey('merchant-ds')).key;
    const call = async (p: string, body: unknown, k = key) =>
      (await fetch(s.url + p, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).status;
    for (const name of ['gw-a', 'gw-b']) expect(await call('/v1/admin/gateways', { name, feePerAttempt: 10, feeBps: 0 }, s.adminKey)).toBe(200);
    const outcome = (gateway: string, ok: boolean, crossBorder: boolean, at = T0 - 60, extra: Record<string, unknown> = {}) => ({
      idempotencyKey: uid(), token: crypto.randomBytes(16).toString('hex'), bin: '411111', last4: '1111', brand: 'visa',
      orderId: `o-${uid()}`, amount: 5000, currency: 'EUR', gateway, status: ok ? 'success' : 'failure', at, crossBorder,
      ...(ok ? {} : { code: '05', type: 'soft' }), ...extra,
    });
    // domestic: gw-a pays every order, gw-b half; cross-border (twice the volume): the reverse
    for (let i = 0; i < 30; i++) {
      expect(await call('/v1/outcomes', outcome('gw-a', true, false))).toBe(200);
      expect(await call('/v1/outcomes', outcome('gw-b', i % 2 === 0, false))).toBe(200);
    }
    for (let i = 0; i < 60; i++) {
      expect(await call('/v1/outcomes', outcome('gw-a', i % 2 === 0, true))).toBe(200);
      expect(await call('/v1/outcomes', outcome('gw-b', true, true))).toBe(200);
    }
    // gw-b in an outage now: five technical failures in a row open its breaker for 300 s
    for (let i = 0; i < 5; i++) expect(await call('/v1/outcomes', outcome('gw-b', false, true, T0 - 5, { code: '68', type: 'technical' }))).toBe(200);

    const pub = await s.service.publisher.publish('test', true);
    const content = (await s.service.publisher.contentOf(pub.info.version))!;
    const rows = (region?: string, band?: string) =>
      content.routes.filter((r) => r.brand === 'visa' && r.currency === 'EUR' && r.region === region && r.band === band).sort((a, b) => a.rank! - b.rank!).map((r) => r.gateway);
    expect(rows()).toEqual(['gw-b', 'gw-a']); // brand × currency: cross-border volume dominates
    expect(rows('dom', '20-100')).toEqual(['gw-a', 'gw-b']); // the domestic segment has its own winner
    expect(rows('xb', '20-100')).toEqual([]); // same as brand × currency: not repeated
    // the cool-down ends at T0 + 295; a device skips gw-b for the hold past it (HALF_OPEN_HOLD_SECONDS)
    expect(content.gatewayHealth).toEqual([{ gateway: 'gw-b', eliminatedUntil: T0 - 5 + 300 + 900 }]);
  });

  it('keeps a half-open breaker in the dataset until a processed answer closes it, so a device does not probe too', async () => {
    const clock = { t: T0 };
    const s = await scope.start({ dataDir: scope.tempDir('precheck-dshalfopen-'), now: () => clock.t * 1000, routing: { explorationShare: 0 } });
    const key = (await s.issueKey('merchant-ho')).key;
    const call = async (p: string, body: unknown, k = key) =>
      (await fetch(s.url + p, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).status;
    for (const name of ['gw-a', 'gw-b']) expect(await call('/v1/admin/gateways', { name, feePerAttempt: 10, feeBps: 0 }, s.adminKey)).toBe(200);
    const outcome = (gateway: string, ok: boolean, extra: Record<string, unknown> = {}) => ({
      idempotencyKey: uid(), token: crypto.randomBytes(16).toString('hex'), bin: '411111', last4: '1111', brand: 'visa',
      orderId: `o-${uid()}`, amount: 5000, currency: 'EUR', gateway, status: ok ? 'success' : 'failure', at: clock.t, crossBorder: false,
      ...(ok ? {} : { code: 'TIMEOUT', type: 'technical' }), ...extra,
    });
    const health = async () => {
      const pub = await s.service.publisher.publish('test', true);
      return (await s.service.publisher.contentOf(pub.info.version))!.gatewayHealth ?? []; // an empty section is left out
    };
    for (let i = 0; i < 10; i++) expect(await call('/v1/outcomes', outcome('gw-a', true))).toBe(200);
    for (let i = 0; i < 5; i++) expect(await call('/v1/outcomes', outcome('gw-b', false))).toBe(200); // breaker open until T0 + 300
    // 10 minutes on: the cool-down is over, the breaker half-open (the service's one probe not sent):
    // gw-b is still skipped by a device, until the hold past the cool-down's end
    clock.t = T0 + 600;
    expect(await health()).toEqual([{ gateway: 'gw-b', eliminatedUntil: T0 + 300 + 900 }]);
    // the probe comes back approved: the breaker closes and the next dataset no longer lists gw-b
    expect(await call('/v1/outcomes', outcome('gw-b', true))).toBe(200);
    expect(await health()).toEqual([]);
  });
});
