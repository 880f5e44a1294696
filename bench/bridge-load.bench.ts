// The bridge's network path under load at the service's default rate limit (issue 12): for 60 s,
// 16 checkouts at a time go through the real host bridge (HTTP POST /v1/verify; its device
// escalates every card to the network service, so every verify is a /v1/auth) and report their
// gateway outcome (POST /v1/outcomes → outbox → forwarder → the service's /v1/outcomes), against a
// real `precheck server` started WITHOUT --rate-limit (its default per-key limit). Offered load is
// paced at the limit (60 000 requests/min per key = 1 000/s); when the service answers slower,
// the 16 checkouts go as fast as it answers. The figure: fallback answers, by cause — 429 (the
// service's limit) must cause none; the bridge's own network deadline (verify.networkDeadlineMs)
// and other failures are counted separately. Also: 429s the bridge received, whether its breaker
// opened, outcomes forwarded and the outbox backlog at the end.
// BRIDGE_LOAD_SECONDS (default 60). Standalone: node --import tsx bench/bridge-load.bench.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Pool } from 'undici';
import { startBridge } from '../host-bridge/bridge.ts';
import { validateConfig } from '../host-bridge/config.ts';
import { SingleDeviceRegistry } from '../host-bridge/devices/single-device-registry.ts';
import { InstantDevice } from './lib/instant-device.ts';
import { killAllTracked } from '../testkit/process.ts';
import { bridgeKey, startService } from './lib/service-process.ts';
import { markdownTable, summarize } from './lib/stats.ts';
import { panFor } from '../testkit/cards.ts';

const CHECKOUTS = 16;
const DEFAULT_LIMIT_PER_MIN = 60_000;

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string; bound?: string; ratio?: string }[] }> {
  const seconds = Number(process.env.BRIDGE_LOAD_SECONDS ?? 60);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-bridgeload-'));
  // Why each fallback happened: the pipeline logs it (warn) with the network error's message.
  const fallbackCauses: Record<string, number> = {};
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.includes('applying fallback policy')) continue;
        const err = String((JSON.parse(line) as { err?: string }).err ?? 'unknown');
        const cause = /\(429\)/.test(err) ? '429 rate limited' : /deadline|timed out/.test(err) ? 'network deadline' : /circuit open/.test(err) ? 'breaker open' : err.slice(0, 60);
        fallbackCauses[cause] = (fallbackCauses[cause] ?? 0) + 1;
      }
      cb();
    },
  });
  const logger = pino({ level: 'warn' }, sink);
  try {
    const svcDir = path.join(dir, 'service');
    fs.mkdirSync(svcDir);
    const key = await bridgeKey(svcDir, null);
    const svc = await startService(svcDir, null, 1, null); // the default per-key limit
    const bridge = await startBridge({
      config: validateConfig({ listen: { port: 0 }, rateLimit: { perMinute: 0 }, dataDir: path.join(dir, 'bridge'), network: { serviceUrl: svc.urls[0], apiKey: key }, log: { level: 'warn' } }),
      registry: new SingleDeviceRegistry(new InstantDevice('escalate')),
      logger,
    });
    let acked = 0;
    bridge.forwarder.on('acked', () => acked++);
    const pool = new Pool(bridge.url, { connections: CHECKOUTS });
    const stages: Record<string, number> = {};
    const lat: number[] = [];
    let n = 0;
    let outcomesQueued = 0;
    let errors = 0;
    let firstError = '';
    const minIntervalMs = (CHECKOUTS * 60_000) / DEFAULT_LIMIT_PER_MIN; // the limit spread over the checkouts
    // Did the breaker ever open? (429 must never open it.)
    const breakerSeen = new Set<string>();
    const watch = setInterval(() => breakerSeen.add(bridge.network!.breakerState()), 50);
    const t0 = performance.now();
    const stopAt = t0 + seconds * 1000;
    try {
      await Promise.all(
        Array.from({ length: CHECKOUTS }, async () => {
          while (performance.now() < stopAt) {
            const started = performance.now();
            const i = n++;
            const orderId = `load-${i}`;
            const res = await pool.request({ path: '/v1/verify', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ card: { number: panFor(1_000_000 + i), expMonth: 12, expYear: 2035 }, order: { id: orderId, amount: { value: 2500 + (i % 5000), currency: 'USD' }, country: 'US' }, customer: { accountId: `acct-${i % 5000}`, ip: `10.0.${(i >> 8) & 255}.${i & 255}` } }) });
            const body = (await res.body.json()) as { stage?: string; decision?: string; gateway?: string | null };
            lat.push(performance.now() - started);
            if (res.statusCode !== 200) {
              if (errors++ === 0) firstError = `${res.statusCode} ${JSON.stringify(body).slice(0, 200)}`;
              continue;
            }
            stages[body.stage!] = (stages[body.stage!] ?? 0) + 1;
            if (body.decision !== 'decline') {
              const o = await pool.request({ path: '/v1/outcomes', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ orderId, gateway: body.gateway ?? 'gw-a', status: i % 7 ? 'success' : 'failure', ...(i % 7 ? {} : { code: '05', type: 'soft' }) }) });
              await o.body.text();
              if (o.statusCode === 202) outcomesQueued++;
            }
            const wait = minIntervalMs - (performance.now() - started);
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
        }),
      );
    } finally {
      await pool.close();
    }
    const wallS = (performance.now() - t0) / 1000;
    const stats = { ...bridge.network!.stats };
    const breaker = bridge.network!.breakerState();
    const backlog = JSON.stringify(bridge.outbox.depth());
    clearInterval(watch);
    await bridge.close();
    await svc.stop();
    const verifies = Object.values(stages).reduce((a, b) => a + b, 0);
    const fallbacks = stages.fallback ?? 0;
    const by429 = fallbackCauses['429 rate limited'] ?? 0;
    const l = summarize(lat);
    const rows = [
      ['verifications (all escalated to /v1/auth)', `${verifies.toLocaleString('en')} in ${wallS.toFixed(0)} s = ${(verifies / wallS).toFixed(0)}/s (offered up to ${DEFAULT_LIMIT_PER_MIN / 60}/s)`],
      ['checkout latency p50 / p99 (bridge /v1/verify)', `${l.median.toFixed(1)} / ${l.p99.toFixed(1)} ms`],
      ['answered by stage', Object.entries(stages).map(([k, v]) => `${k} ${v}`).join(', ')],
      ['fallbacks by cause', Object.keys(fallbackCauses).length ? Object.entries(fallbackCauses).map(([k, v]) => `${k} ${v}`).join(', ') : 'none'],
      ['**fallbacks caused by 429**', `**${by429}**`],
      ['429 answers the bridge received (verify + forwarder)', String(stats.rateLimited)],
      ['circuit breaker states seen (sampled every 50 ms) / at the end', `${[...breakerSeen].join(', ')} / ${breaker}`],
      ['outcomes reported / forwarded and acknowledged', `${outcomesQueued.toLocaleString('en')} / ${acked.toLocaleString('en')} (outbox.maxPerSecond paces forwarding; backlog ${backlog ?? 'n/a'} at the end)`],
      ['bridge errors (non-200 verify)', `${errors}${firstError ? ` (first: ${firstError})` : ''}`],
    ];
    return {
      title: 'Bridge network path under load at the service\'s default rate limit (60 s)',
      markdown:
        `${markdownTable(['figure', 'value'], rows)}\n\n` +
        `Real \`precheck server\` (SQLite, default per-key limit ${DEFAULT_LIMIT_PER_MIN.toLocaleString('en')}/min per instance, default publishing) and the real host bridge in the benchmark's process (HTTP API, network client with its breaker and ${'verify.networkDeadlineMs'} default, outbox and forwarder); a device double escalates every card; ${CHECKOUTS} checkouts in a closed loop, each paced to at most the limit's share; the machine's 2 cores are shared by all three.`,
      summary: [
        { figure: `bridge load ${seconds} s at the default limit: fallbacks caused by 429`, value: String(by429), bound: `${fallbacks} fallbacks in all of ${verifies} verifications (${Object.entries(fallbackCauses).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}); ${stats.rateLimited} 429s received` },
      ],
    };
  } finally {
    await killAllTracked();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
  for (const s of r.summary) process.stdout.write(`${s.figure}: ${s.value} (${s.bound})\n`);
}
