// The network service as the service benchmarks run it: `precheck server` processes on one data
// dir and database (a reverse proxy's view: the load is split across them), the bare Fastify
// bound (bare-auth-route.ts) in its own process, a bridge key, and load runs combined.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openService } from '../../server/service.ts';
import { killAndWait, spawnTracked, waitForOutput } from '../../testkit/process.ts';
import type { LoadResult } from './http-load.ts';
import { summarize } from './stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', '..', 'bin', 'precheck.js');
const BARE = path.join(here, 'bare-auth-route.ts');

export interface Target {
  urls: string[];
  /** The server processes (for their CPU time). */
  pids: number[];
  stop(): Promise<void>;
}

/** How long the last startChild took until it listened (ms): with 10^6 history rows the service's start is a figure too. */
export let lastStartMs = 0;
/** How long the last startService waited after listening for the first dataset (ms; 0 when it was there). */
export let lastFirstDatasetMs = 0;

/**
 * Waits until every instance serves a dataset and (SQLite) has read its card filter: a first start
 * on a big store (10^5+ rows) listens first and builds its dataset behind (server/start.ts), and a
 * load measured meanwhile would count that work's CPU, not the requests'.
 */
async function untilDatasetPublished(urls: string[], timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  for (const url of urls) {
    for (;;) {
      const health = (await (await fetch(`${url}/v1/health`)).json()) as { datasetVersion: number | null };
      // ...and, on SQLite, its card filter read (seconds at 10^6 rows; the probe answers meanwhile).
      if (health.datasetVersion !== null && !/^precheck_auth_cards_in_memory 0$/m.test(await (await fetch(`${url}/metrics`)).text())) break;
      if (performance.now() - t0 > timeoutMs) throw new Error(`no dataset published by ${url} within ${timeoutMs / 1000} s of listening`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  lastFirstDatasetMs = performance.now() - t0;
}

async function startChild(args: string[]): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const t0 = performance.now();
  const child = spawnTracked(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  // The service replays its routing window from stored outcomes before it listens: minutes with
  // 10^6 history rows on a loaded machine (SERVICE_START_TIMEOUT_S, default 900).
  const m = await waitForOutput(child, /listening on (http:\/\/\S+)/, { stream: 'stdout', timeoutMs: (Number(process.env.SERVICE_START_TIMEOUT_S) || 900) * 1000 });
  lastStartMs = performance.now() - t0;
  return { url: m[1], pid: child.pid!, stop: () => killAndWait(child, 10_000) };
}

/** BENCH_BARE_NODE_ARGS: node options for the bare route's process (as BENCH_SERVICE_NODE_ARGS). */
export async function startBare(): Promise<Target> {
  const node = (process.env.BENCH_BARE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const c = await startChild([...node, '--import', 'tsx', BARE]);
  return { urls: [c.url], pids: [c.pid], stop: () => c.stop() };
}

/**
 * `instances` × `precheck server`; `rateLimit` null = the service's default limit. Resolves once
 * every instance listens and serves a dataset (a big store's first build runs after listening).
 * BENCH_SERVICE_NODE_ARGS: node options for the service processes, e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof` for a CPU profile of each instance (written when it stops).
 */
export async function startService(dataDir: string, database: string | null, instances: number, rateLimit: number | null = 100_000_000): Promise<Target> {
  const cs: { url: string; pid: number; stop(): Promise<void> }[] = [];
  try {
    for (let i = 0; i < instances; i++) {
      const node = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
      // The default log level (info), as deployed: a summary line per minute, no line per request.
      const args = [...node, CLI, 'server', '--data', dataDir, '--port', '0', '--train-schedule', 'off'];
      if (rateLimit !== null) args.push('--rate-limit', String(rateLimit));
      if (database) args.push('--database', database);
      cs.push(await startChild(args));
    }
    await untilDatasetPublished(cs.map((c) => c.url), (Number(process.env.SERVICE_START_TIMEOUT_S) || 900) * 1000);
  } catch (e) {
    await Promise.all(cs.map((c) => c.stop()));
    throw e;
  }
  return { urls: cs.map((c) => c.url), pids: cs.map((c) => c.pid), stop: async () => void (await Promise.all(cs.map((c) => c.stop()))) };
}

type OpenOptions = Parameters<typeof openService>[0];
export const quietService = (dataDir: string, database: string | null): OpenOptions =>
  ({ dataDir, database: database ?? undefined, logLevel: 'warn', publishDebounceMs: -1, publishOnStart: false, train: { schedule: null } }) as OpenOptions;

/** Creates the data dir (keys, schema), two gateways and a bridge key; returns the key. */
export async function bridgeKey(dataDir: string, database: string | null): Promise<string> {
  const svc = await openService(quietService(dataDir, database));
  try {
    await svc.storage.upsertGateway({ name: 'gw-a', feePerAttempt: 10, feeBps: 200 });
    await svc.storage.upsertGateway({ name: 'gw-b', feePerAttempt: 5, feeBps: 250 });
    return (await svc.issueKey('bench-shop')).key;
  } finally {
    await svc.close();
  }
}

/** Several load runs as one: requests over total time, latency over all samples. */
export function combine(runs: LoadResult[]): LoadResult {
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, n] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + n;
  return { requests, seconds, rps: requests / seconds, latency: summarize(runs.flatMap((r) => r.samples)), statuses, samples: runs.flatMap((r) => r.samples) };
}
