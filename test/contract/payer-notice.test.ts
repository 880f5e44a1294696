// Seed 004 end to end, both real: a bridge verifies a card on its device "term-1", the shop reports
// the gateway's success with the payer's account, the bridge forwards it with the verifier device as
// `terminal`, and the service sends the payer's backend a signed notice for that located terminal.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { startServer } from '../../server/start.ts';
import { FakeRegistry, ScriptedDevice } from '../host-bridge/device-double.ts';
import { startTestBridge, type TestBridge } from '../host-bridge/bridge-harness.ts';
import { makeTempDir } from '../host-bridge/temp-dir.ts';
import { withTimeout } from '../../testkit/wait.ts';

const PAN = '4000056655665556';

describe('payment notice through bridge and service', () => {
  const serverDir = makeTempDir('precheck-notice-server-');
  const bridgeDir = makeTempDir('precheck-notice-bridge-');
  let server: Awaited<ReturnType<typeof startServer>>;
  let bridge: TestBridge;
  let receiver: http.Server;
  let secret = '';
  const got: { body: string; headers: http.IncomingHttpHeaders }[] = [];
  let arrived!: () => void;
  const delivered = new Promise<void>((r) => (arrived = r));

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        got.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
        res.statusCode = 204;
        res.end();
        arrived();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    server = await startServer({ dataDir: serverDir.path, port: 0, host: '127.0.0.1', publishOnStart: false, train: { schedule: null }, notify: { allowHttp: true } });
    const admin = (method: string, p: string, body: unknown, key = server.adminKey) =>
      fetch(`${server.url}${p}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
    const key = (await admin('POST', '/v1/admin/keys', { merchant: 'shop-n' })).json.key as string;
    expect((await admin('POST', '/v1/admin/devices', { id: 'term-1', merchant: 'shop-n', kind: 'usb' })).status).toBe(200);
    expect((await admin('PUT', '/v1/admin/devices/term-1/location', { lat: 31.2304, lon: 121.4737, category: '5411', merchantName: '上海小店' })).status).toBe(200);
    await admin('POST', '/v1/admin/offers', { offers: [{ merchant: 'n1', name: '邻家超市', category: '5411', lat: 31.231, lon: 121.474, item: '牛奶', price: 1150, currency: 'CNY' }] });
    const ep = await admin('POST', '/v1/notify/endpoints', { account: 'payer-9', kind: 'webhook', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/n`, lang: 'zh-CN', consent: { granted: true, text: '同意接收支付通知' } }, key);
    expect(ep.status).toBe(200);
    secret = ep.json.secret;
    bridge = await startTestBridge({
      dataDir: bridgeDir.path,
      registry: new FakeRegistry([new ScriptedDevice('term-1', () => ({ decision: 'approve', reason: 'known_good' }))]),
      raw: { network: { serviceUrl: server.url, apiKey: key, timeoutMs: 5000 }, merchant: { country: 'CN' } },
    });
  });

  afterAll(async () => {
    await bridge?.close();
    await server?.close();
    await new Promise<void>((r) => receiver.close(() => r()));
    serverDir.remove();
    bridgeDir.remove();
  });

  it('verify at term-1, report success with the account → a verified notice in Chinese with the nearby price', async () => {
    const v = await fetch(`${bridge.url}/v1/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ card: { number: PAN, expMonth: 12, expYear: 2031 }, order: { id: 'n-1', amount: { value: 1280, currency: 'CNY' } } }),
    }).then((r) => r.json() as Promise<{ decision: string; device: { id: string } }>);
    expect(v).toMatchObject({ decision: 'approve', device: { id: 'term-1' } });
    const o = await fetch(`${bridge.url}/v1/outcomes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ orderId: 'n-1', gateway: 'gw-1', status: 'success', account: 'payer-9' }) });
    expect(o.status).toBe(202);
    await withTimeout(delivered, 20_000, 'the notice at the receiver');
    const n = new Webhook(secret).verify(got[0].body, got[0].headers as Record<string, string>) as any;
    expect(n.data).toMatchObject({ orderId: 'n-1', merchant: '上海小店', card: { brand: 'visa', last4: '5556' }, lang: 'zh', terminal: { id: 'term-1', category: '5411' } });
    expect(n.data.items).toMatchObject([{ merchant: '邻家超市', item: '牛奶', price: { value: 1150, currency: 'CNY' } }]);
    expect(n.data.text).toMatch(/^您于.*在上海小店使用Visa •••• 5556支付了/);
    expect(got[0].body).not.toContain(PAN);
  });
});
