// Host bridge HTTP API benchmark: verify requests per second and latency (median, p99) through
// the real Fastify API on loopback, against calling the verification pipeline directly, so the
// difference is the bridge's own HTTP overhead (parsing, schema validation, serialisation,
// loopback TCP). Uses an in-process device double that answers at once, so device and link time
// are zero here; real-device numbers come from the device-side benchmarks.
//
// Run alone:   node --import tsx bench/bridge-api.bench.ts
// Or with all: npm run bench
//
// Methodology
// - Each scenario runs a fixed number of requests (bounded, stops by itself) after a warm-up.
//   Every request has a fresh order id, so each one also writes its verification row to the
//   real SQLite outbox (WAL) — included in both the direct and the HTTP figures.
// - "direct": `pipeline.verify()` awaited one at a time (latency) — the floor for the API.
// - "HTTP c=N": undici Pool with N connections and N requests in flight; latency per request is
//   from send to full body; throughput = requests / wall time.
// - "network stage": the device escalates and a loopback HTTP server answers /v1/auth, so the
//   figure includes the bridge's network client (undici, breaker) and a second HTTP hop.

import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Pool } from 'undici';
import type { AddressInfo } from 'node:net';
import type { BenchResult, SummaryRow } from './run.ts';
import { markdownTable, summarize, summaryTable } from './lib/stats.ts';
import { startBridge, type Bridge } from '../host-bridge/bridge.ts';
import { validateConfig } from '../host-bridge/config.ts';
import { SingleDeviceRegistry } from '../host-bridge/devices/single-device-registry.ts';
import { InstantDevice } from './lib/instant-device.ts';

const PAN = '4111111111111111';

let seq = 0;
function body() {
  return { card: { number: PAN, expMonth: 12, expYear: 2030 }, order: { id: `b-${++seq}`, amount: { value: 1999, currency: 'USD' } } };
}

async function timeDirect(bridge: Bridge, n: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await bridge.pipeline.verify(body());
    lat.push(performance.now() - t);
  }
  return lat;
}

async function timeHttp(url: string, n: number, concurrency: number): Promise<{ lat: number[]; rps: number }> {
  const pool = new Pool(url, { connections: concurrency });
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      const t = performance.now();
      const res = await pool.request({ path: '/v1/verify', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body()) });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`verify answered ${res.statusCode}`);
      lat.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wall = performance.now() - t0;
  await pool.close();
  return { lat, rps: (n / wall) * 1000 };
}

const f2 = (ms: number) => `${ms.toFixed(3)} ms`;

export async function run(opts: { requests?: number } = {}): Promise<BenchResult> {
  const N = opts.requests ?? 3000;
  const dir = mkdtempSync(join(tmpdir(), 'precheck-bench-bridge-'));
  const logger = pino({ level: 'silent' });
  // A loopback stand-in for the network service (for the network-stage scenario).
  const svc = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"decision":"approve","reason":"bench","prompt":null,"gateway":"gw"}');
    });
  });
  svc.listen(0, '127.0.0.1');
  await once(svc, 'listening');
  const svcUrl = `http://127.0.0.1:${(svc.address() as AddressInfo).port}`;

  const rows: string[][] = [];
  const summary: SummaryRow[] = [];
  try {
    for (const scenario of ['local stage', 'network stage'] as const) {
      const bridge = await startBridge({
        config: validateConfig({ listen: { port: 0 }, rateLimit: { perMinute: 0 }, dataDir: join(dir, scenario.replace(' ', '-')), network: { serviceUrl: svcUrl }, log: { level: 'silent' } }),
        registry: new SingleDeviceRegistry(new InstantDevice(scenario === 'local stage' ? 'approve' : 'escalate')),
        logger,
      });
      try {
        await timeDirect(bridge, 200); // warm-up
        await timeHttp(bridge.url, 200, 4);
        const direct = summarize(await timeDirect(bridge, N));
        rows.push([scenario, 'direct pipeline.verify()', '1', f2(direct.median), f2(direct.p99), `${Math.round(1000 / direct.mean)}`]);
        let c1Median = NaN;
        for (const c of [1, 4, 16]) {
          const h = await timeHttp(bridge.url, N, c);
          const s = summarize(h.lat);
          if (c === 1) c1Median = s.median;
          rows.push([scenario, 'HTTP POST /v1/verify', String(c), f2(s.median), f2(s.p99), `${Math.round(h.rps)}`]);
          if (scenario === 'local stage' && c === 4) summary.push({ figure: 'Bridge API verify throughput (4 connections, local stage)', value: `${Math.round(h.rps)} req/s`, bound: `p50 ${f2(s.median)}, p99 ${f2(s.p99)}` });
        }
        summary.push({
          figure: `Bridge HTTP overhead per verify (${scenario}, c=1)`,
          value: f2(c1Median - direct.median),
          bound: `direct pipeline ${f2(direct.median)}`,
          ratio: `${(c1Median / direct.median).toFixed(2)}×`,
        });
      } finally {
        await bridge.close();
      }
    }
  } finally {
    svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const markdown = `${N} requests per row after warm-up; in-process device double (0 ms device time); SQLite outbox write included.

${markdownTable(['scenario', 'path', 'concurrency', 'p50 latency', 'p99 latency', 'req/s'], rows)}

The gap between "direct" and "HTTP c=1" is the bridge's own cost per request (Fastify, JSON
Schema validation, serialisation, loopback TCP through undici). Throughput at c>1 is bounded by
one Node.js event loop on a 2-core machine shared with the client.`;
  return { title: 'Host bridge HTTP API', markdown, summary };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await run();
  console.log(`# ${r.title}\n\n${r.markdown}`);
  if (r.summary) console.log('\n' + summaryTable(r.summary));
}
