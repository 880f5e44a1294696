// POST /v1/outcomes ingestion (issue 12): outcomes acknowledged per second — each one idempotent
// (unique key per outcome) and durable when acknowledged (SQLite: group commit with a WAL fsync,
// synchronous=FULL; PostgreSQL: commit with synchronous_commit on) — 16 keep-alive connections,
// closed loop, against `precheck server` processes, next to the bare Fastify route validating the
// same outcome schema (bench/lib/bare-auth-route.ts) in the same run: the ratio is the figure.
// After the load: every acknowledged outcome is a stored row (counted), and re-sending acknowledged
// outcomes answers from the stored row (Idempotent-Replay) without a second one.
// SQLite; PostgreSQL with 1 and 2 instances when PRECHECK_BENCH_DATABASE_URL names a server.
// OUTCOMES_BENCH_SECONDS (default 15, split in 3 alternating rounds); BENCH_BACKENDS=postgres (or
// sqlite) runs one backend's variants.
// Standalone: node --import tsx bench/outcomes.bench.ts
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { openService } from '../server/service.ts';
import { killAllTracked } from '../testkit/process.ts';
import { closedLoopLoad, type LoadResult } from './lib/http-load.ts';
import { benchBackends, dropPgDatabase, freshPgDatabase, pgBenchUrl, PG_SKIPPED_NOTE } from './lib/pg-bench.ts';
import { bridgeKey, combine, quietService, startBare, startService } from './lib/service-process.ts';
import { markdownTable } from './lib/stats.ts';
import { alternatingRounds, cpuCell, type SideBySide } from './lib/cpu.ts';

const CONNECTIONS = 16;
const ROUNDS = 3;
const REPLAYS = 500;

function outcome(run: string, i: number): string {
  const fail = i % 5 === 0;
  return JSON.stringify({
    idempotencyKey: `${run}-${i}`,
    // deterministic token per outcome (no randomness: the run is reproducible)
    token: crypto.createHash('sha256').update(`${run}/${i}`).digest('hex').slice(0, 32),
    bin: '411111', last4: String(1000 + (i % 9000)), brand: 'visa',
    orderId: `${run}-o${i}`, amount: 2500 + (i % 50_000), currency: 'USD',
    gateway: i % 2 ? 'gw-a' : 'gw-b', status: fail ? 'failure' : 'success', ...(fail ? { code: '05', type: 'soft' } : {}),
  });
}

function load(urls: string[], key: string, seconds: number, run: string): Promise<LoadResult> {
  return closedLoopLoad({
    targets: urls, path: '/v1/outcomes', connections: CONNECTIONS, durationMs: seconds * 1000, warmupMs: 2000,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: (i) => outcome(run, i),
  });
}

interface Variant { backend: 'SQLite' | 'PostgreSQL'; database: string | null; instances: number }

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string; bound?: string; ratio?: string }[] }> {
  const seconds = Number(process.env.OUTCOMES_BENCH_SECONDS ?? 15);
  const admin = pgBenchUrl();
  const backends = benchBackends();
  const variants: Variant[] = backends.sqlite ? [{ backend: 'SQLite', database: null, instances: 1 }] : [];
  if (admin && backends.postgres) for (const instances of [1, 2]) variants.push({ backend: 'PostgreSQL', database: admin, instances });
  const table: string[][] = [];
  const summary: { figure: string; value: string; bound?: string; ratio?: string }[] = [];
  const notes: string[] = [];
  try {
    for (const v of variants) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-outcomes-'));
      const database = v.database ? await freshPgDatabase(v.database) : null;
      try {
        const key = await bridgeKey(dir, database);
        const bare = await startBare();
        const svc = await startService(dir, database, v.instances).catch(async (e) => {
          await bare.stop();
          throw e;
        });
        let bareRuns: LoadResult[];
        let svcRuns: LoadResult[];
        let cpu: SideBySide['cpu'];
        let replayed = 0;
        let replays = 0;
        try {
          ({ bareRuns, svcRuns, cpu } = await alternatingRounds(ROUNDS, bare, svc, database, (urls, run) => load(urls, key, seconds / ROUNDS, run)));
          // Re-send acknowledged outcomes (round 0's first ones, all sent and answered; on every
          // instance in turn): each must be answered from the stored row (Idempotent-Replay).
          replays = Math.min(REPLAYS, svcRuns[0].requests);
          for (let i = 0; i < replays; i++) {
            const res = await request(`${svc.urls[i % svc.urls.length]}/v1/outcomes`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: outcome('svc0', i) });
            await res.body.text();
            if (res.statusCode === 200 && res.headers['idempotent-replay'] === 'true') replayed++;
          }
        } finally {
          await Promise.all([bare.stop(), svc.stop()]);
        }
        // Every outcome the service answered 200 to (warm-up included) must be a row now.
        const s = await openService(quietService(dir, database));
        let stored: number;
        let versions: number;
        try {
          stored = await s.storage.countOutcomes();
          versions = (await s.storage.latestDataset())?.version ?? 0;
        } finally {
          await s.close();
        }
        const bound = combine(bareRuns);
        const r = combine(svcRuns);
        const ratio = r.rps / bound.rps;
        const non200 = r.requests - (r.statuses['200'] ?? 0);
        table.push([v.backend, String(v.instances), `${r.rps.toFixed(0)} /s`, `${r.latency.median.toFixed(2)} / ${r.latency.p99.toFixed(2)} ms`, `${bound.rps.toFixed(0)} /s`, `${bound.latency.median.toFixed(2)} / ${bound.latency.p99.toFixed(2)} ms`, ratio.toFixed(3), cpuCell(cpu, bareRuns, svcRuns), String(non200), `${replayed}/${replays}`]);
        const label = `${v.backend}, ${v.instances} instance${v.instances > 1 ? 's' : ''}`;
        summary.push({ figure: `outcomes ingested per second (${label})`, value: `${r.rps.toFixed(0)}/s, p50 ${r.latency.median.toFixed(1)} ms, p99 ${r.latency.p99.toFixed(1)} ms`, bound: `bare Fastify route ${bound.rps.toFixed(0)}/s; CPU per request ${cpuCell(cpu, bareRuns, svcRuns)}`, ratio: ratio.toFixed(3) });
        const acked = svcRuns.reduce((a, x) => a + (x.statuses['200'] ?? 0), 0);
        notes.push(`${label}: ${acked.toLocaleString('en')} outcomes acknowledged in the measured windows, ${stored.toLocaleString('en')} rows stored after the run (warm-ups add theirs; ${stored >= acked ? 'none lost' : '**FEWER than acknowledged**'}); ${replayed} of ${replays} re-sent acknowledged outcomes answered from the stored row (Idempotent-Replay), so no second row; ${versions} dataset versions published from start to end`);
      } finally {
        if (database) await dropPgDatabase(v.database!, database);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await killAllTracked();
  }
  if (!admin) notes.push(PG_SKIPPED_NOTE);
  return {
    title: 'Network service: outcomes ingested per second',
    markdown:
      `${markdownTable(['backend', 'instances', 'service', 'service p50 / p99', 'bare route', 'bare p50 / p99', 'ratio', 'CPU ms/request: service (+PostgreSQL) vs bare → ratio', 'non-200', 'replays'], table)}\n\n` +
      `Unique idempotency keys (each a new outcome: insert, gateway statistics, known-good or restricted effects, trust label), ${CONNECTIONS} keep-alive connections, closed loop, ${seconds} s each in ${ROUNDS} alternating rounds (2 s warm-up per round), the service with its default publishing (a dataset build 2 s after changes stop, at least every 10 s) and the load generator on the same 2 cores. ` +
      `An outcome is answered only once it is committed (SQLite: synchronous=FULL group commit; PostgreSQL: synchronous_commit on). CPU per request: user+system CPU of the service processes and their children (the dataset build child) and, when PRECHECK_BENCH_PG_DATADIR names its data directory here, of the PostgreSQL server's processes (its background processes and the bench database's backends), warm-ups included, divided by the requests answered.\n\n` +
      notes.map((n) => `- ${n}`).join('\n'),
    summary,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
  for (const s of r.summary) process.stdout.write(`${s.figure}: ${s.value} (${s.bound}, ratio ${s.ratio})\n`);
}
