// Closed-loop HTTP load for the service benchmarks: `connections` keep-alive connections (undici
// Pools, split evenly across targets), one request in flight per connection, for a fixed time
// after a warm-up. Reports completed requests per second, latency median / p99 and status counts.
import { Pool } from 'undici';
import { summarize, type Summary } from './stats.ts';

export interface LoadOptions {
  targets: string[];
  path: string;
  connections: number;
  durationMs: number;
  warmupMs: number;
  headers: Record<string, string>;
  /** Body of request number i (unique per request across all connections). */
  body(i: number): string;
  /** Optional check of a 200 answer (e.g. decision counts). */
  onAnswer?(status: number, body: unknown): void;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  latency: Summary;
  statuses: Record<string, number>;
  /** Every measured latency (ms). */
  samples: number[];
  /** Requests answered including the warm-up (for CPU per request over the whole run). */
  total?: number;
}

export async function closedLoopLoad(o: LoadOptions): Promise<LoadResult> {
  const pools = o.targets.map((t) => new Pool(t, { connections: Math.ceil(o.connections / o.targets.length), pipelining: 1, keepAliveTimeout: 30_000 }));
  let next = 0;
  const lat: number[] = [];
  const statuses: Record<string, number> = {};
  let measuring = false;
  let stopAt = Number.POSITIVE_INFINITY;
  let total = 0;
  const one = async (pool: Pool): Promise<void> => {
    const i = next++;
    const t = performance.now();
    const res = await pool.request({ path: o.path, method: 'POST', headers: o.headers, body: o.body(i) });
    const json = await res.body.json();
    total++;
    if (!measuring) return;
    lat.push(performance.now() - t);
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    o.onAnswer?.(res.statusCode, json);
  };
  const worker = async (pool: Pool): Promise<void> => {
    while (performance.now() < stopAt) await one(pool);
  };
  const workers: Promise<void>[] = [];
  const warmEnd = performance.now() + o.warmupMs;
  stopAt = warmEnd + o.durationMs;
  for (let c = 0; c < o.connections; c++) workers.push(worker(pools[c % pools.length]));
  await new Promise((r) => setTimeout(r, o.warmupMs));
  measuring = true;
  const t0 = performance.now();
  await Promise.all(workers);
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(pools.map((p) => p.close()));
  return { requests: lat.length, seconds, rps: lat.length / seconds, latency: summarize(lat), statuses, samples: lat, total };
}
