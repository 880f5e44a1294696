// A device answers from its dataset, which holds a decline only after the service published it and
// the device synced (seconds to a sync interval); a customer retries about 30 s after a decline. The
// bridge forwarded that decline itself, so it sends the device's approval of the card to the
// network, which has it. Scripted device double, a real SQLite outbox, a real HTTP server on
// loopback as the service; the clock is a variable.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { VerifyPipeline, type VerifyInput } from '../../host-bridge/pipeline/verify-pipeline.ts';
import { CARD_NEWS_SECONDS, GatewayHealth } from '../../host-bridge/routing/gateway-health.ts';
import { Outbox } from '../../host-bridge/outbox/outbox-db.ts';
import { NetworkClient } from '../../host-bridge/network/network-client.ts';
import { FakeRegistry, ScriptedDevice, testToken } from './device-double.ts';
import { ScriptedService } from './scripted-service.ts';
import { makeTempDir } from './temp-dir.ts';

const T0 = 1_800_000_000;
const PAN = '4111111111111111';
const TOKEN = testToken(PAN);

describe('GatewayHealth.recentDecline', () => {
  it("is the card's latest card-level answer here when the rules act on it, within CARD_NEWS_SECONDS", () => {
    const clock = { ms: T0 * 1000 };
    const h = new GatewayHealth({ now: () => clock.ms });
    const seen = (code: string | null, at: number, extra: { type?: string } = {}) =>
      h.observe({ gateway: 'gw-a', status: code === null ? 'success' : 'failure', ...(code ? { code } : {}), ...extra, at }, TOKEN);
    expect(h.recentDecline(TOKEN, T0)).toBeNull();
    seen('51', T0);
    expect(h.recentDecline(TOKEN, T0 + 30)).toEqual({ code: '51', at: T0 });
    expect(h.recentDecline('ab'.repeat(16), T0 + 30)).toBeNull(); // another card
    expect(h.recentDecline(null, T0 + 30)).toBeNull();
    expect(h.recentDecline(TOKEN, T0 + CARD_NEWS_SECONDS + 1)).toBeNull(); // a dataset has told the device by now
    seen('TIMEOUT', T0 + 40, { type: 'technical' }); // the gateway's failure says nothing about the card
    expect(h.recentDecline(TOKEN, T0 + 60)).toEqual({ code: '51', at: T0 });
    seen(null, T0 + 70); // approved since
    expect(h.recentDecline(TOKEN, T0 + 80)).toBeNull();
    seen('05', T0 + 90); // generic: the rules do not review it (routing avoids the gateway)
    expect(h.recentDecline(TOKEN, T0 + 100)).toBeNull();
    seen('43', T0 + 110); // hard
    expect(h.recentDecline(TOKEN, T0 + 120)).toEqual({ code: '43', at: T0 + 110 });
    seen('91', T0 + 130); // issuer unavailable: reviewed for 5 minutes only
    expect(h.recentDecline(TOKEN, T0 + 130 + 299)).toEqual({ code: '91', at: T0 + 130 });
    expect(h.recentDecline(TOKEN, T0 + 130 + 301)).toBeNull();
  });
});

describe('verify pipeline: a device approval of a card the bridge just saw declined', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let svc: ScriptedService;
  let outbox: Outbox;
  let network: NetworkClient;
  const clock = { ms: T0 * 1000 };
  beforeEach(async () => {
    dir = makeTempDir();
    svc = await new ScriptedService().start();
    outbox = Outbox.open(dir.path);
    network = new NetworkClient({ baseUrl: svc.url, timeoutMs: 2000, retries: 1, backoffMs: 5, backoffMaxMs: 10, breaker: { failureThreshold: 50, resetMs: 60_000 } });
  });
  afterEach(async () => {
    await network.close();
    outbox.close();
    await svc.close();
    dir.remove();
  });
  const input = (orderId: string): VerifyInput => ({ card: { number: PAN, expMonth: 12, expYear: 2030 }, order: { id: orderId, amount: { value: 5000, currency: 'USD' }, country: 'US' } });

  it('goes to the network, which knows the decline; without such news the device answers', async () => {
    const health = new GatewayHealth({ now: () => clock.ms });
    const dev = new ScriptedDevice('d1', () => ({ decision: 'approve', reason: 'known_good', gateway: 'gw-a', brand: 'visa' }));
    const p = new VerifyPipeline({ registry: new FakeRegistry([dev]), network, outbox, fallback: { kind: 'review' }, merchantCountry: 'US', lang: 'en', deviceTimeoutMs: 2000, logger: pino({ level: 'silent' }), gatewayHealth: health, now: () => clock.ms });
    expect(await p.verify(input('o1'))).toMatchObject({ stage: 'local', decision: 'approve', reason: 'known_good' });
    health.observe({ gateway: 'gw-a', status: 'failure', code: '51', type: 'soft', at: T0 }, TOKEN);
    clock.ms += 30_000;
    svc.handler = () => ({ status: 200, body: { decision: 'review', reason: 'soft_decline', prompt: { code: 'try_smaller_amount', message: 'Try a smaller amount', lang: 'en' }, gateway: 'gw-b' } });
    expect(await p.verify(input('o1'))).toMatchObject({ stage: 'network', decision: 'review', reason: 'soft_decline', gateway: 'gw-b' });
    expect(svc.requests.at(-1)?.body).toMatchObject({ token: TOKEN, local: { decision: 'escalate', reason: 'card_declined_at_bridge' } });
    // a sync interval later the device's dataset has it: the device answers again
    clock.ms += CARD_NEWS_SECONDS * 1000;
    const asked = svc.requests.length;
    expect(await p.verify(input('o2'))).toMatchObject({ stage: 'local', decision: 'approve' });
    expect(svc.requests.length).toBe(asked);
  });
});
