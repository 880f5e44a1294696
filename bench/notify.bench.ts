// Payer notices (seed 004): notices generated per second with 10^5 catalogue merchants (rules +
// k-nearest over the per-category kdbush/geokdbush index + the localised notice), against the same
// notices with the nearest merchants found by a brute-force scan (the bound); and outcome →
// delivered latency through the real service (POST /v1/outcomes → queue → signed webhook → a
// receiver that verifies the signature), against a plain signed POST to the same receiver.
// Standalone: node --import tsx bench/notify.bench.ts  (BENCH_SCALE=0.1 for a quick run)
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { startServer } from '../server/start.ts';
import { CatalogueIndex, greatCircleKm } from '../server/notify/geo-index.ts';
import { buildNotice } from '../server/notify/notice.ts';
import { DEFAULT_RULE_SET, evaluateRules } from '../server/notify/rules.ts';
import type { CatalogueMerchant, Offer, TerminalLocation } from '../server/notify/store.ts';
import { scaled } from './lib/scale.ts';
import { markdownTable, summarize } from './lib/stats.ts';

const CATS = ['5411', '5812', '5912', '5541', '5651', '5732', '5942', '5992', '5311', '5814'];
const ITEMS = ['Milk 1 l', 'Bread', 'Coffee', 'Rice 1 kg', 'Eggs x6', 'Apples 1 kg'];

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** n merchants over a 60 × 60 km metro area (about Paris), 3 offers each. */
function catalogue(n: number): { merchants: CatalogueMerchant[]; offers: Offer[] } {
  const rnd = lcg(2026);
  const merchants: CatalogueMerchant[] = [];
  const offers: Offer[] = [];
  for (let i = 0; i < n; i++) {
    const m = { id: `m${i}`, name: `Merchant ${i}`, category: CATS[Math.floor(rnd() * CATS.length)], lat: 48.6 + rnd() * 0.54, lon: 2.0 + rnd() * 0.82 };
    merchants.push(m);
    for (let j = 0; j < 3; j++) offers.push({ merchantId: m.id, item: ITEMS[(i + j) % ITEMS.length], price: 50 + Math.floor(rnd() * 1000), currency: 'EUR' });
  }
  return { merchants, offers };
}

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string; bound?: string; ratio?: string }[] }> {
  const N = scaled(100_000, 1000);
  const NOTICES = scaled(20_000, 500);
  const DELIVERIES = scaled(400, 50);
  const rows: string[][] = [];
  const summary: { figure: string; value: string; bound?: string; ratio?: string }[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-notify-'));
  try {
    // ---------------------------------------------------------------- generation
    const cat = catalogue(N);
    let t0 = performance.now();
    const index = CatalogueIndex.build(cat.merchants, cat.offers, 1);
    const buildMs = performance.now() - t0;
    rows.push(['index build', `${N} merchants, ${cat.offers.length} offers`, `${buildMs.toFixed(1)} ms`]);
    const offersOf = new Map<string, Offer[]>();
    for (const o of cat.offers) (offersOf.get(o.merchantId) ?? offersOf.set(o.merchantId, []).get(o.merchantId)!).push(o);
    for (const l of offersOf.values()) l.sort((a, b) => a.price - b.price);
    // The bound: the same rule answered by scanning every merchant (what no index costs).
    const bruteIndex = {
      version: 0,
      size: N,
      nearest: (category: string, lat: number, lon: number, k: number, r: number) =>
        cat.merchants
          .filter((m) => m.category === category)
          .map((m) => ({ merchant: m, distanceKm: greatCircleKm(lon, lat, m.lon, m.lat), offers: offersOf.get(m.id) ?? [] }))
          .filter((x) => x.distanceKm <= r)
          .sort((a, b) => a.distanceKm - b.distanceKm)
          .slice(0, k),
    } as unknown as CatalogueIndex;
    const rnd = lcg(7);
    const terminals: TerminalLocation[] = Array.from({ length: 1000 }, (_, i) => ({ deviceId: `t${i}`, lat: 48.65 + rnd() * 0.44, lon: 2.05 + rnd() * 0.72, category: CATS[i % CATS.length], merchantName: 'Shop', updatedAt: 0 }));
    const now = new Date();
    const gen = (idx: CatalogueIndex, i: number) => {
      const t = terminals[i % terminals.length];
      const amount = 100 + (i % 900);
      const items = evaluateRules(DEFAULT_RULE_SET, { category: t.category, lat: t.lat, lon: t.lon, amount, currency: 'EUR', merchant: 'shop' }, idx);
      return buildNotice({ orderId: `o${i}`, merchantName: 'Shop', amount, currency: 'EUR', at: 1_765_000_000, brand: 'visa', last4: '1111', lang: i % 2 ? 'fr' : 'en', terminal: { id: t.deviceId, category: t.category }, items, ruleSetVersion: 0 }, now);
    };
    let withItems = 0;
    for (let i = 0; i < 500; i++) gen(index, i); // warm-up
    const per: number[] = [];
    t0 = performance.now();
    for (let i = 0; i < NOTICES; i++) {
      const s = performance.now();
      if (gen(index, i).data.items.length > 0) withItems++;
      per.push((performance.now() - s) * 1000);
    }
    const indexedPerSec = NOTICES / ((performance.now() - t0) / 1000);
    const ps = summarize(per);
    const BRUTE = Math.max(50, Math.round(NOTICES / 100));
    const bper: number[] = [];
    t0 = performance.now();
    for (let i = 0; i < BRUTE; i++) {
      const s = performance.now();
      gen(bruteIndex, i);
      bper.push((performance.now() - s) * 1000);
    }
    const brutePerSec = BRUTE / ((performance.now() - t0) / 1000);
    const bs = summarize(bper);
    rows.push(['notice generation (index)', `${NOTICES} notices, ${((withItems / NOTICES) * 100).toFixed(0)}% with nearby items`, `${indexedPerSec.toFixed(0)} /s; p50 ${ps.median.toFixed(1)} µs, p99 ${ps.p99.toFixed(1)} µs`]);
    rows.push(['notice generation (brute-force scan, bound)', `${BRUTE} notices`, `${brutePerSec.toFixed(0)} /s; p50 ${bs.median.toFixed(1)} µs, p99 ${bs.p99.toFixed(1)} µs`]);
    summary.push({ figure: `notify: notices generated per second (${N} catalogue merchants)`, value: `${indexedPerSec.toFixed(0)} /s (p50 ${ps.median.toFixed(1)} µs, p99 ${ps.p99.toFixed(1)} µs)`, bound: `brute-force scan ${brutePerSec.toFixed(0)} /s`, ratio: `${(indexedPerSec / brutePerSec).toFixed(1)}×` });

    // ---------------------------------------------------------------- outcome → delivered
    let secret = '';
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const directLat: number[] = [];
    const acceptLat: number[] = [];
    let waiter: (() => void) | null = null;
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          const v = new Webhook(secret).verify(body, req.headers as Record<string, string>) as { data?: { orderId: string } };
          const t = v.data ? sentAt.get(v.data.orderId) : undefined;
          if (t !== undefined) latencies.push(performance.now() - t);
          res.statusCode = 204;
        } catch {
          res.statusCode = 401;
        }
        res.end();
        waiter?.();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const rxUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const s = await startServer({ dataDir: dir, port: 0, logLevel: 'warn', publishDebounceMs: -1, publishOnStart: false, train: { schedule: null }, rateLimitMax: 1e9, notify: { allowHttp: true } });
    try {
      const svc = s.service;
      const key = (await s.issueKey('bench-shop')).key;
      await svc.storage.upsertDevice({ id: 'term-1', merchant: 'bench-shop', kind: 'usb', label: null, publicKey: null, createdAt: 0 });
      svc.notify.setTerminal('term-1', { lat: 48.8566, lon: 2.3522, category: '5411', merchantName: 'Shop' });
      svc.notify.store.importCatalogue(cat.merchants, cat.offers);
      secret = svc.notify.registerEndpoint('bench-shop', { account: 'acct', kind: 'webhook', url: rxUrl, lang: 'en', consent: { granted: true, text: 'bench' } }).secret!;
      svc.notify.catalogueIndex();
      const post = async (i: number) => {
        const orderId = `ord-${i}`;
        const delivered = new Promise<void>((r) => (waiter = r));
        sentAt.set(orderId, performance.now());
        const res = await request(`${s.url}/v1/outcomes`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ idempotencyKey: `k-${i}`, token: crypto.randomBytes(16).toString('hex'), bin: '411111', last4: '1111', orderId, amount: 450, currency: 'EUR', gateway: 'gw', status: 'success', terminal: 'term-1', account: 'acct' }),
        });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`outcome answered ${res.statusCode}`);
        if (i >= 0) acceptLat.push(performance.now() - sentAt.get(orderId)!);
        await delivered;
      };
      for (let i = 0; i < 20; i++) await post(-1 - i); // warm-up
      latencies.length = 0;
      for (let i = 0; i < DELIVERIES; i++) await post(i);
      // Bound: the receiver's own cost — a signed POST straight to it, no service in between.
      const wh = new Webhook(secret);
      for (let i = 0; i < DELIVERIES; i++) {
        const body = JSON.stringify({ type: 'payment.notice', data: { orderId: 'direct' } });
        const id = `msg_direct_${i}`;
        const t = performance.now();
        const res = await request(rxUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': wh.sign(id, new Date(), body) }, body });
        await res.body.dump();
        directLat.push(performance.now() - t);
      }
    } finally {
      await s.close();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
    const d = summarize(latencies);
    const b = summarize(directLat);
    const a = summarize(acceptLat);
    rows.push(['outcome → delivered (service, queue, signed webhook, verified)', `${latencies.length} outcomes, one at a time`, `p50 ${d.median.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms`]);
    rows.push(['of which: POST /v1/outcomes answered', `${acceptLat.length} outcomes`, `p50 ${a.median.toFixed(2)} ms, p99 ${a.p99.toFixed(2)} ms`]);
    rows.push(['signed POST straight to the receiver (bound)', `${directLat.length} requests`, `p50 ${b.median.toFixed(2)} ms, p99 ${b.p99.toFixed(2)} ms`]);
    summary.push({ figure: 'notify: outcome → delivered p50 / p99', value: `${d.median.toFixed(2)} / ${d.p99.toFixed(2)} ms`, bound: `direct signed POST p50 ${b.median.toFixed(2)} ms`, ratio: `${(d.median / b.median).toFixed(1)}×` });
    return {
      title: 'Payer notices (seed 004)',
      markdown: `${markdownTable(['what', 'size', 'result'], rows)}\n\nCatalogue: ${N} merchants in 10 categories over a 60 × 60 km area, 3 offers each; default rule set (3 nearest of the category within 2 km). Latency is measured from sending POST /v1/outcomes to the receiver having verified the Standard Webhooks signature; the service, the receiver and the load generator share ${os.cpus().length} cores on loopback.`,
      summary,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  run().then((r) => {
    process.stdout.write(`${r.markdown}\n`);
    process.exit(0);
  });
}
