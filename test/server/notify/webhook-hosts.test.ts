// Which hosts a payer webhook may name: with notify.webhookHosts only those (exact or *.domain),
// refused with 403 WEBHOOK_HOST_NOT_ALLOWED and nothing stored; without it any public https host,
// never an internal address literal (the service must not be pointed into its own network).
// http:// only to loopback, and only with allowHttp (tests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWebhookHosts } from '../../../server/notify/notify-service.ts';
import type { DeliveryEvent } from '../../../server/notify/delivery.ts';
import { onceEvent } from '../../../testkit/wait.ts';
import { startHarness, type Harness } from '../helpers.ts';

const body = (url: string) => ({ account: 'acct-wh', kind: 'webhook', url, lang: 'en', consent: { granted: true, text: 'I agree' } });

describe('webhook host allow-list', () => {
  let listed: Harness;
  let open: Harness;
  beforeAll(async () => {
    [listed, open] = await Promise.all([
      startHarness({ publishOnStart: false, train: { schedule: null }, notify: { allowHttp: true, webhookHosts: ['hooks.shop.example', '*.wallet.example', '127.0.0.1'] } }),
      startHarness({ publishOnStart: false, train: { schedule: null } }),
    ]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([listed?.close(), open?.close()]);
  });

  it('accepts only the listed hosts, refusing the rest with a stable code and storing nothing', async () => {
    for (const url of ['https://hooks.shop.example/precheck', 'https://HOOKS.shop.example:8443/x', 'https://app.wallet.example/h', 'https://a.b.wallet.example/h', 'http://127.0.0.1:9/hooks']) {
      const r = await listed.call('POST', '/v1/notify/endpoints', body(url));
      expect(r.status, `${url}: ${JSON.stringify(r.json)}`).toBe(200);
    }
    const before = (await listed.call('GET', '/v1/notify/endpoints?account=acct-wh')).json.endpoints.length;
    expect(before).toBe(5);
    for (const url of ['https://evil.example/h', 'https://wallet.example/h', 'https://hooks.shop.example.evil.example/h', 'https://xwallet.example/h', 'https://127.0.0.2/h', 'https://[::1]/h']) {
      const r = await listed.call('POST', '/v1/notify/endpoints', body(url));
      expect(r.status, url).toBe(403);
      expect(r.json.error.code, url).toBe('WEBHOOK_HOST_NOT_ALLOWED');
      expect(r.json.error.message).toMatch(/not in this service's allow-list \(notify\.webhookHosts\)/);
    }
    // allowHttp is for loopback only, even for a listed host.
    const http = await listed.call('POST', '/v1/notify/endpoints', body('http://hooks.shop.example/h'));
    expect(http.status).toBe(400);
    expect(http.json.error).toMatchObject({ code: 'INVALID_FIELD', message: 'url must be https (http only to a loopback host)' });
    expect((await listed.call('GET', '/v1/notify/endpoints?account=acct-wh')).json.endpoints.length).toBe(before);
  });

  it('dead-letters a queued notice whose endpoint host is no longer allowed, without calling it', async () => {
    // An endpoint registered before the list was narrowed (written straight into the store).
    const notify = listed.s.service.notify;
    notify.store.insertEndpoint({ id: 'ep_old', merchant: 'merchant-a', account: 'acct-old', kind: 'webhook', url: 'https://old-receiver.example/h', phone: null, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', lang: 'en', consentText: 'ok', consentAt: 1, createdAt: 1 });
    const dead = onceEvent<[DeliveryEvent]>(notify.worker, 'dead', 30_000);
    notify.store.enqueue([{ id: 'msg_old_1', endpointId: 'ep_old', merchant: 'merchant-a', account: 'acct-old', orderId: 'o-old', eventType: 'payment.notice', payload: '{}', nextAt: 0, createdAt: 1 }]);
    notify.worker.kick();
    const [ev] = await dead;
    expect(ev).toMatchObject({ id: 'msg_old_1', attempts: 1, error: 'webhook host no longer allowed (notify.webhookHosts)' });
    expect(notify.store.message('msg_old_1')?.state).toBe('dead');
    // Logs never carry the receiver's address.
    expect(listed.logs.join('\n')).not.toContain('old-receiver.example');
  });

  it('by default takes any public https host but no internal address literal', async () => {
    expect((await open.call('POST', '/v1/notify/endpoints', body('https://hooks.anyshop.example/h'))).status).toBe(200);
    expect((await open.call('POST', '/v1/notify/endpoints', body('https://203.0.113.7/h'))).status).toBe(200);
    // 2130706433 and 0x7f.1 are 127.0.0.1 once the URL parser normalises them.
    for (const url of ['https://10.1.2.3/h', 'https://192.168.1.20/h', 'https://169.254.169.254/latest', 'https://localhost/h', 'https://api.localhost/h', 'https://[::1]/h', 'https://[fd00::1]/h', 'https://[::ffff:127.0.0.1]/h', 'https://2130706433/h', 'https://0x7f.1/h', 'https://0.0.0.0/h']) {
      const r = await open.call('POST', '/v1/notify/endpoints', body(url));
      expect(r.status, url).toBe(403);
      expect(r.json.error.code, url).toBe('WEBHOOK_HOST_NOT_ALLOWED');
    }
    // Without allowHttp, http is refused even to loopback.
    const r = await open.call('POST', '/v1/notify/endpoints', body('http://127.0.0.1:9/h'));
    expect(r.json.error).toMatchObject({ code: 'INVALID_FIELD', message: 'url must be https' });
    expect((await open.call('GET', '/v1/notify/endpoints?account=acct-wh')).json.endpoints.length).toBe(2);
  });

  it('refuses a malformed allow-list at start', () => {
    expect(() => checkWebhookHosts(['hooks.shop.example', '*.wallet.example', '10.0.0.5', '[::1]'])).not.toThrow();
    expect(() => checkWebhookHosts(null)).not.toThrow();
    for (const bad of ['https://hooks.shop.example/', 'hooks.shop.example/x', '*', 'a.*.example', '']) {
      expect(() => checkWebhookHosts([bad]), bad).toThrow(/notify\.webhookHosts: .* is not a host name, \*\.domain or IP address/);
    }
  });
});
