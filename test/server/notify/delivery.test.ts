// Payer notices end to end on a real service: a located terminal, an offers catalogue, a payer
// endpoint with consent, an accepted success outcome → a Standard Webhooks message that a real HTTP
// receiver verifies with the same `standardwebhooks` package. Retries, dead letters, replay,
// idempotency, consent withdrawn mid-flight, erasure, SMS through the adapter.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { SmsAdapter, SmsMessage } from '../../../protocol/channels/sms-adapter.ts';
import type { DeliveryEvent } from '../../../server/notify/delivery.ts';
import { outcomeBody, randomToken, startHarness, type Harness } from '../helpers.ts';
import { onceEvent, withTimeout } from '../../../testkit/wait.ts';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  verified: any;
}

/** A merchant-backend receiver: verifies every request's signature; answers with `answer(n)`. */
async function startReceiver(answer: (n: number) => number | Promise<number> = () => 204) {
  const received: Received[] = [];
  const attempts: string[] = [];
  let secret = '';
  const waiters: (() => void)[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      attempts.push(req.headers['webhook-id'] as string);
      const n = attempts.length;
      let verified: unknown;
      try {
        verified = new Webhook(secret).verify(body, req.headers as Record<string, string>);
      } catch {
        res.statusCode = 401;
        res.end();
        return;
      }
      const status = await answer(n);
      if (status >= 200 && status < 300) received.push({ headers: req.headers, body, verified });
      res.statusCode = status;
      res.end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hooks/precheck`,
    received,
    attempts,
    setSecret: (s: string) => (secret = s),
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

const OFFERS_CSV = [
  'merchant,name,category,lat,lon,item,price,currency',
  'near-1,Épicerie Nord,5411,48.8570,2.3530,Milk 1 l,109,EUR',
  'near-1,Épicerie Nord,5411,48.8570,2.3530,Bread,250,EUR',
  'near-2,"Market ""Two""",5411,48.8600,2.3400,Milk 1 l,99,EUR',
  'far-1,Far Away,5411,48.9500,2.6000,Milk 1 l,50,EUR',
  'cafe-1,Café,5812,48.8567,2.3525,Espresso,180,EUR',
  'bad line without enough cells',
  'near-3,Bad,54x1,48.85,2.35,Thing,1,EUR',
].join('\n');

describe('payer notices after a payment at a located terminal', () => {
  let h: Harness;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  let answer: (n: number) => number | Promise<number>;
  const sms: SmsMessage[] = [];
  const smsAdapter: SmsAdapter = { send: async (m) => void sms.push(m) };

  beforeEach(async () => {
    answer = () => 204;
    sms.length = 0;
    rx = await startReceiver((n) => answer(n));
    h = await startHarness({ publishOnStart: false, train: { schedule: null }, notify: { allowHttp: true, sms: smsAdapter, delivery: { baseBackoffMs: 5, maxBackoffMs: 20, maxAttempts: 4, pollMs: 50 } } });
    expect((await h.admin('POST', '/v1/admin/devices', { id: 'term-1', merchant: 'merchant-a', kind: 'usb' })).status).toBe(200);
    const loc = await h.admin('PUT', '/v1/admin/devices/term-1/location', { lat: 48.8566, lon: 2.3522, category: '5411', merchantName: 'Shop A' });
    expect(loc.status, JSON.stringify(loc.json)).toBe(200);
    const imp = await h.call('POST', '/v1/admin/offers/import', OFFERS_CSV, h.s.adminKey, { 'content-type': 'text/csv' });
    expect(imp.json).toMatchObject({ lines: 8, offers: 5, merchants: 4, invalidCount: 2, invalidLines: [7, 8] });
  });
  afterEach(async () => {
    await h.close();
    await rx.close();
  });

  const worker = () => h.s.service.notify.worker;
  async function registerWebhook(account = 'acct-1', lang = 'fr') {
    const r = await h.call('POST', '/v1/notify/endpoints', { account, kind: 'webhook', url: rx.url, lang, consent: { granted: true, text: 'I agree to receive payment notices' } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.secret).toMatch(/^whsec_/);
    rx.setSecret(r.json.secret);
    return r.json as { endpoint: { id: string }; secret: string };
  }
  const pay = (over: Record<string, unknown> = {}) => h.call('POST', '/v1/outcomes', outcomeBody(randomToken(), { status: 'success', amount: 120, currency: 'EUR', bin: '411111', last4: '1111', brand: 'visa', terminal: 'term-1', account: 'acct-1', ...over }));

  it('reports locations in device listings; refuses unknown devices and bad categories', async () => {
    const list = await h.admin('GET', '/v1/admin/devices');
    expect(list.json.devices[0]).toMatchObject({ id: 'term-1', location: { lat: 48.8566, lon: 2.3522, category: '5411', merchantName: 'Shop A' } });
    expect((await h.admin('PUT', '/v1/admin/devices/nope/location', { lat: 1, lon: 1, category: '5411' })).json.error.code).toBe('NOT_FOUND');
    expect((await h.admin('PUT', '/v1/admin/devices/term-1/location', { lat: 1, lon: 1, category: 'food' })).json.error.code).toBe('INVALID_FIELD');
    expect((await h.admin('PUT', '/v1/admin/devices/term-1/location', { lat: 91, lon: 1, category: '5411' })).status).toBe(400);
  });

  it('a success at a located terminal sends a signed notice with the nearest same-category prices, in the payer language, brand and last four only', async () => {
    await registerWebhook('acct-1', 'fr');
    const delivered = onceEvent<[DeliveryEvent]>(worker(), 'delivered', 10_000);
    const r = await pay({ orderId: 'order-77' });
    expect(r.status).toBe(200);
    const [ev] = await delivered;
    expect(rx.received).toHaveLength(1);
    const got = rx.received[0];
    expect(got.headers['webhook-id']).toBe(ev.id);
    expect(got.headers['webhook-signature']).toMatch(/^v1,/);
    const d = got.verified.data;
    expect(got.verified.type).toBe('payment.notice');
    expect(d).toMatchObject({ orderId: 'order-77', merchant: 'Shop A', amount: { value: 120, currency: 'EUR' }, card: { brand: 'visa', last4: '1111' }, lang: 'fr', terminal: { id: 'term-1', category: '5411' }, ruleSetVersion: 0 });
    expect(d.text).toContain('Vous avez payé 1,20');
    expect(d.text).toContain('Shop A');
    // Default rules: 3 nearest grocery merchants within 2 km, cheapest comparable offer each; the
    // far one (≈ 15 km) and the café (other category) are not offered.
    expect(d.items.map((i: any) => [i.merchant, i.item, i.price.value])).toEqual([
      ['Épicerie Nord', 'Milk 1 l', 109],
      ['Market "Two"', 'Milk 1 l', 99],
    ]);
    expect(d.items[0].distanceKm).toBeLessThan(d.items[1].distanceKm);
    expect(got.body).not.toContain('411111');
  });

  it('only successes, only located terminals of the same merchant, only accounts with endpoints; one message per outcome', async () => {
    await registerWebhook();
    await h.admin('POST', '/v1/admin/devices', { id: 'term-other', merchant: 'merchant-b', kind: 'usb' });
    await h.admin('PUT', '/v1/admin/devices/term-other/location', { lat: 48.8566, lon: 2.3522, category: '5411' });
    await h.admin('POST', '/v1/admin/devices', { id: 'term-nowhere', merchant: 'merchant-a', kind: 'usb' });
    expect((await pay({ status: 'failure', code: '51', type: 'soft' })).status).toBe(200);
    expect((await pay({ terminal: 'term-other' })).status).toBe(200);
    expect((await pay({ terminal: 'term-nowhere' })).status).toBe(200);
    expect((await pay({ account: 'acct-without-endpoint' })).status).toBe(200);
    expect((await pay({ terminal: undefined })).status).toBe(200);
    expect(h.s.service.notify.store.counts()).toEqual({ pending: 0, sending: 0, delivered: 0, dead: 0 });
    // The same outcome reported twice (bridge retry): one message.
    const body = outcomeBody(randomToken(), { status: 'success', amount: 500, currency: 'EUR', terminal: 'term-1', account: 'acct-1' });
    const delivered = onceEvent(worker(), 'delivered', 10_000);
    expect((await h.call('POST', '/v1/outcomes', body)).status).toBe(200);
    expect((await h.call('POST', '/v1/outcomes', body)).headers.get('idempotent-replay')).toBe('true');
    await delivered;
    const c = h.s.service.notify.store.counts();
    expect(c.delivered + c.pending + c.sending).toBe(1);
  });

  it('a receiver failing N times then succeeding gets the same webhook-id each time and one delivery', async () => {
    answer = (n) => (n <= 2 ? 503 : 200);
    await registerWebhook();
    const retries: DeliveryEvent[] = [];
    worker().on('retry', (e) => retries.push(e));
    const delivered = onceEvent<[DeliveryEvent]>(worker(), 'delivered', 10_000);
    await pay();
    const [ev] = await delivered;
    expect(ev.attempts).toBe(3);
    expect(retries.map((r) => r.attempts)).toEqual([1, 2]);
    expect(new Set(rx.attempts)).toEqual(new Set([ev.id]));
    expect(rx.attempts).toHaveLength(3);
    expect(rx.received).toHaveLength(1);
    expect(h.s.service.notify.store.message(ev.id)).toMatchObject({ state: 'delivered', attempts: 3, lastError: null });
  });

  it('dead-letters after maxAttempts; admin replay delivers it with the same id; purge removes it', async () => {
    let healthy = false;
    answer = () => (healthy ? 200 : 500);
    await registerWebhook();
    const dead = onceEvent<[DeliveryEvent]>(worker(), 'dead', 10_000);
    await pay();
    const [ev] = await dead;
    expect(ev.attempts).toBe(4);
    const listed = await h.admin('GET', '/v1/admin/notify/messages?state=dead');
    expect(listed.json.messages.map((m: any) => m.id)).toEqual([ev.id]);
    expect(listed.json.messages[0].lastError).toBe('receiver answered 500');
    expect(JSON.stringify(listed.json)).not.toContain('payload');
    healthy = true;
    const delivered = onceEvent<[DeliveryEvent]>(worker(), 'delivered', 10_000);
    expect((await h.admin('POST', `/v1/admin/notify/messages/${ev.id}/replay`)).status).toBe(200);
    expect((await delivered)[0].id).toBe(ev.id);
    expect(rx.received.map((r) => r.headers['webhook-id'])).toEqual([ev.id]);
    expect((await h.admin('DELETE', '/v1/admin/notify/messages?state=delivered')).json).toEqual({ purged: 1 });
    expect(h.s.service.notify.store.message(ev.id)).toBeNull();
  });

  it('410 Gone dead-letters at once', async () => {
    answer = () => 410;
    await registerWebhook();
    const dead = onceEvent<[DeliveryEvent]>(worker(), 'dead', 10_000);
    await pay();
    expect((await dead)[0].attempts).toBe(1);
  });

  it('consent withdrawn mid-queue: the in-flight message is dropped, nothing is retried, nothing is kept', async () => {
    let release!: (status: number) => void;
    const held = new Promise<number>((r) => (release = r));
    const arrived = new Promise<void>((r) => {
      answer = () => {
        r();
        return held;
      };
    });
    const ep = await registerWebhook();
    await pay();
    await withTimeout(arrived, 10_000, 'the first delivery attempt');
    // While the receiver holds the request, the payer withdraws consent.
    const w = await h.call('DELETE', `/v1/notify/endpoints/${ep.endpoint.id}`);
    expect(w.json).toEqual({ ok: true, messages: 1 });
    const dropped = onceEvent<[DeliveryEvent]>(worker(), 'dropped', 10_000);
    release(500);
    await dropped;
    expect(h.s.service.notify.store.counts()).toEqual({ pending: 0, sending: 0, delivered: 0, dead: 0 });
    expect((await h.call('GET', '/v1/notify/endpoints?account=acct-1')).json.endpoints).toEqual([]);
    // Later successes of the account queue nothing.
    await pay();
    expect(h.s.service.notify.store.counts().pending).toBe(0);
    expect(rx.attempts).toHaveLength(1);
  });

  it('consent is explicit; erasure deletes every endpoint and message of the account', async () => {
    const refused = await h.call('POST', '/v1/notify/endpoints', { account: 'acct-1', kind: 'webhook', url: rx.url, lang: 'en', consent: { granted: false, text: 'no' } });
    expect(refused.json.error.code).toBe('INVALID_FIELD');
    expect((await h.call('POST', '/v1/notify/endpoints', { account: 'acct-1', kind: 'webhook', url: 'ftp://x', lang: 'en', consent: { granted: true, text: 'ok' } })).json.error.code).toBe('INVALID_FIELD');
    answer = () => 500; // keep the message queued
    await registerWebhook('acct-9');
    await h.call('POST', '/v1/notify/endpoints', { account: 'acct-9', kind: 'sms', phone: '+33 6 12 34 56 78', lang: 'fr', consent: { granted: true, text: 'SMS ok' } });
    await pay({ account: 'acct-9' });
    const db = h.s.service.storage as unknown as { db: import('better-sqlite3').Database };
    const rows = () => (db.db.prepare("SELECT (SELECT count(*) FROM notify_endpoints WHERE account = 'acct-9') + (SELECT count(*) FROM notify_messages WHERE account = 'acct-9') AS n").get() as { n: number }).n;
    expect(rows()).toBeGreaterThan(2);
    const erased = await h.call('POST', '/v1/notify/erasure', { account: 'acct-9' });
    expect(erased.json).toMatchObject({ ok: true, endpoints: 2 });
    expect(erased.json.messages).toBeGreaterThanOrEqual(1);
    expect(rows()).toBe(0);
    // Not only unreachable: gone from the database file and its WAL (no free-page remnants).
    for (const f of [h.s.databaseFile, `${h.s.databaseFile}-wal`]) {
      if (!fs.existsSync(f)) continue;
      const bytes = fs.readFileSync(f);
      expect(bytes.includes('acct-9'), f).toBe(false);
      expect(bytes.includes('+33612345678'), f).toBe(false);
      expect(bytes.includes(rx.url), f).toBe(false);
    }
  });

  it('SMS endpoints: number normalised to E.164, text through the adapter, never a card number', async () => {
    const r = await h.call('POST', '/v1/notify/endpoints', { account: 'acct-s', kind: 'sms', phone: '06 12 34 56 78', region: 'FR', lang: 'en', consent: { granted: true, text: 'SMS ok' } });
    expect(r.json.endpoint.phone).toBe('+33612345678');
    expect(r.json.secret).toBeNull();
    expect((await h.call('POST', '/v1/notify/endpoints', { account: 'acct-s', kind: 'sms', phone: '12', lang: 'en', consent: { granted: true, text: 'x' } })).json.error.code).toBe('INVALID_FIELD');
    const delivered = onceEvent(worker(), 'delivered', 10_000);
    await pay({ account: 'acct-s' });
    await delivered;
    expect(sms).toHaveLength(1);
    expect(sms[0].to).toBe('+33612345678');
    expect(sms[0].text).toMatch(/^You paid €1\.20 at Shop A on .* with Visa •••• 1111\.\nNearby prices:\n- Épicerie Nord/);
  });

  it('rule sets are data: validated, versioned, and the notice names the version used', async () => {
    const bad = await h.admin('PUT', '/v1/admin/notify/rules', { rules: [{ id: 'x', nearby: { k: 500, radiusKm: 1 } }] });
    expect(bad.json.error.code).toBe('INVALID_FIELD');
    expect((await h.admin('PUT', '/v1/admin/notify/rules', { rules: [], extra: 1 })).status).toBe(400);
    const put = await h.admin('PUT', '/v1/admin/notify/rules', { maxItems: 5, rules: [{ id: 'wide', when: { categories: ['5411'] }, nearby: { k: 5, radiusKm: 50, itemsPerMerchant: 2 } }] });
    expect(put.json.version).toBe(1);
    expect((await h.admin('GET', '/v1/admin/notify/rules')).json.version).toBe(1);
    await registerWebhook('acct-1', 'en');
    const delivered = onceEvent(worker(), 'delivered', 10_000);
    await pay();
    await delivered;
    const d = rx.received[0].verified.data;
    expect(d.ruleSetVersion).toBe(1);
    expect(d.items.map((i: any) => i.merchant)).toEqual(['Épicerie Nord', 'Épicerie Nord', 'Market "Two"', 'Far Away']);
  });
});
