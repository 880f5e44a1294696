// POST /v1/auth at the speed of the HTTP stack: new cards (random tokens) with a customer context
// (account, device, IP: every request reads and writes trust signals), 16 keep-alive connections,
// closed loop, against `precheck server` in its own process — next to a bare Fastify route that
// validates the same request schema (bench/lib/bare-auth-route.ts), measured in the same run. The
// ratio service ÷ bare route is the figure (goal ≥ 0.4 on SQLite).
// Variants: empty database, and 10^6 restricted cards + 10^6 history rows (BENCH_SCALE scales
// both); SQLite, and PostgreSQL when PRECHECK_BENCH_DATABASE_URL (or PRECHECK_TEST_DATABASE_URL)
// names a server, with one instance and with two instances on the same database (the load is
// split across both, as a reverse proxy would).
// BENCH_BACKENDS=postgres (or sqlite) runs one backend's variants; AUTH_BENCH_ROWS=empty only the
// empty-database ones, AUTH_BENCH_ROWS=seeded only the seeded ones; AUTH_BENCH_SEED_CACHE=<dir>
// seeds the SQLite store once there and copies it for every run.
// Standalone: node --import tsx bench/auth-ratio.bench.ts   (AUTH_BENCH_SECONDS=10 per run)
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openService } from '../server/service.ts';
import type { OutcomeRow, RestrictedEntry } from '../server/storage/storage.ts';
import { killAllTracked } from '../testkit/process.ts';
import { benchBackends, dropPgDatabase, freshPgDatabase, pgBenchUrl, PG_SKIPPED_NOTE } from './lib/pg-bench.ts';
import { bridgeKey, combine, lastFirstDatasetMs, lastStartMs, startBare, startService } from './lib/service-process.ts';
import { closedLoopLoad, type LoadResult } from './lib/http-load.ts';
import { benchScale } from './lib/scale.ts';
import { markdownTable } from './lib/stats.ts';
import { alternatingRounds, cpuCell, type SideBySide } from './lib/cpu.ts';

const CONNECTIONS = 16;
const ROUNDS = 3;






/** Seeds restricted cards and history rows straight through Storage (the service is not running). */
async function seed(dataDir: string, database: string | null, restricted: number, history: number): Promise<void> {
  if (restricted === 0 && history === 0) return;
  const now = Math.floor(Date.now() / 1000);
  const svc = await openService({ dataDir, database: database ?? undefined, logLevel: 'warn', publishDebounceMs: -1, publishOnStart: false, train: { schedule: null } } as Parameters<typeof openService>[0]);
  try {
    for (let i = 0; i < restricted; i += 50_000) {
      const batch: RestrictedEntry[] = [];
      for (let j = i; j < Math.min(restricted, i + 50_000); j++) {
        batch.push({ token: new Uint8Array(crypto.randomBytes(16)), bin: '411111', last4: '0000', reason: 'fraud', source: 'bench', addedAt: now, expiresAt: null });
      }
      await svc.storage.addRestricted(batch);
    }
    let token = new Uint8Array(16);
    for (let i = 0; i < history; i += 50_000) {
      const batch: OutcomeRow[] = [];
      for (let j = i; j < Math.min(history, i + 50_000); j++) {
        if (j % 4 === 0) token = new Uint8Array(crypto.randomBytes(16));
        batch.push({
          idempotencyKey: '', merchant: `m${j % 50}`, token, bin: '411111', last4: '0000', brand: 'visa', orderId: `h${j}`,
          amount: 1000 + (j % 5000), currency: 'USD', gateway: j % 2 ? 'gw-a' : 'gw-b', status: j % 5 ? 'success' : 'failure',
          code: j % 5 ? null : '51', type: j % 5 ? null : 'soft', at: now - (j % (20 * 86_400)), hard: false,
        });
      }
      await svc.storage.importOutcomes(batch);
    }
  } finally {
    await svc.close();
  }
}


function authLoad(urls: string[], key: string, seconds: number, run: string, decisions?: Record<string, number>): Promise<LoadResult> {
  // New cards (random tokens) with a customer context drawn from 20 000 accounts, devices and IPs.
  return closedLoopLoad({
    targets: urls,
    path: '/v1/auth',
    connections: CONNECTIONS,
    durationMs: seconds * 1000,
    warmupMs: 2000,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: (i) => {
      const a = (i * 7919) % 20_000;
      return JSON.stringify({
        token: crypto.randomBytes(16).toString('hex'),
        bin: '411111', last4: String(1000 + (i % 9000)), brand: 'visa', expMonth: 12, expYear: 2099,
        order: { id: `${run}-${i}`, amount: { value: 2500 + (i % 50_000), currency: 'USD' }, country: 'US' },
        customer: { accountId: `acct-${a}`, deviceId: `dev-${a % 15_000}`, ip: `10.${(a >> 8) & 255}.${a & 255}.7`, ipCountry: a % 10 ? 'US' : 'GB' },
      });
    },
    onAnswer: decisions
      ? (status, body) => {
          const k = status === 200 ? `${(body as { decision: string }).decision}/${(body as { reason: string }).reason}` : `HTTP ${status}`;
          decisions[k] = (decisions[k] ?? 0) + 1;
        }
      : undefined,
  });
}

interface Variant {
  backend: 'SQLite' | 'PostgreSQL';
  database: string | null;
  instances: number;
  rows: number; // restricted cards = history rows
}

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string; bound?: string }[] }> {
  const scale = benchScale();
  const seconds = Number(process.env.AUTH_BENCH_SECONDS ?? 15);
  const ROWS = Math.round(1_000_000 * scale);
  const pgUrl = pgBenchUrl();
  const backends = benchBackends();
  // AUTH_BENCH_ROWS=empty: only the empty-database variants (no 10^6-row seeding).
  const rowSets = process.env.AUTH_BENCH_ROWS === 'empty' ? [0] : process.env.AUTH_BENCH_ROWS === 'seeded' ? [ROWS] : [0, ROWS];
  const variants: Variant[] = [];
  if (backends.sqlite) for (const rows of rowSets) variants.push({ backend: 'SQLite', database: null, instances: 1, rows });
  if (pgUrl && backends.postgres) {
    for (const rows of rowSets) for (const instances of [1, 2]) variants.push({ backend: 'PostgreSQL', database: pgUrl, instances, rows });
  }
  const table: string[][] = [];
  const summary: { figure: string; value: string; bound?: string }[] = [];
  const notes: string[] = [];
  try {
    for (const v of variants) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-auth-'));
      try {
        let database = v.database;
        if (database) database = await freshPgDatabase(database);
        const t0 = performance.now();
        // AUTH_BENCH_SEED_CACHE=<dir>: a SQLite store seeded once there is copied for each run
        // (seeding 10^6 + 10^6 rows takes minutes; the service writes to its copy, never to it).
        const cache = process.env.AUTH_BENCH_SEED_CACHE;
        if (cache && !database && v.rows > 0) {
          const template = path.join(cache, `sqlite-${v.rows}`);
          if (!fs.existsSync(path.join(template, 'seeded'))) {
            fs.rmSync(template, { recursive: true, force: true });
            fs.mkdirSync(template, { recursive: true });
            await seed(template, null, v.rows, v.rows);
            // ...with its first dataset built, so each copy's service serves at once (a first
            // start on a big store builds it after listening: ~1.5 min here at 10^6 rows).
            const svc = await openService({ dataDir: template, logLevel: 'warn', publishDebounceMs: -1, publishOnStart: false, train: { schedule: null } } as Parameters<typeof openService>[0]);
            try {
              await svc.publisher.publish('bench seed');
            } finally {
              await svc.close();
            }
            fs.writeFileSync(path.join(template, 'seeded'), `${v.rows}\n`);
          }
          fs.cpSync(template, dir, { recursive: true, filter: (src) => path.basename(src) !== 'seeded' });
        } else await seed(dir, database, v.rows, v.rows);
        const seedS = (performance.now() - t0) / 1000;
        const key = await bridgeKey(dir, database);
        // Both run side by side, loaded in alternating rounds: on a shared machine a slow spell
        // then hits both figures rather than one.
        const bare = await startBare();
        const svc = await startService(dir, database, v.instances).catch(async (e) => {
          await bare.stop();
          throw e;
        });
        const startS = lastStartMs / 1000;
        const firstDatasetS = lastFirstDatasetMs / 1000;
        const decisions: Record<string, number> = {};
        let bareRuns: LoadResult[];
        let svcRuns: LoadResult[];
        let cpu: SideBySide['cpu'];
        let spill: SideBySide['spill'];
        try {
          ({ bareRuns, svcRuns, cpu, spill } = await alternatingRounds(ROUNDS, bare, svc, database, (urls, run, side) =>
            authLoad(urls, key, seconds / ROUNDS, run, side === 'svc' ? decisions : undefined),
          ));
        } finally {
          await Promise.all([bare.stop(), svc.stop()]);
        }
        const bound = combine(bareRuns);
        const r = combine(svcRuns);
        const ratio = r.rps / bound.rps;
        const rows = v.rows === 0 ? 'empty' : `${v.rows.toLocaleString('en')} restricted + ${v.rows.toLocaleString('en')} history`;
        const non200 = r.requests - (r.statuses['200'] ?? 0);
        table.push([
          v.backend, String(v.instances), rows,
          `${r.rps.toFixed(0)} req/s`, `${r.latency.median.toFixed(2)} / ${r.latency.p99.toFixed(2)} ms`,
          `${bound.rps.toFixed(0)} req/s`, `${bound.latency.median.toFixed(2)} / ${bound.latency.p99.toFixed(2)} ms`,
          ratio.toFixed(2), cpuCell(cpu, bareRuns, svcRuns), String(non200),
        ]);
        const label = `${v.backend}, ${v.instances} instance${v.instances > 1 ? 's' : ''}, ${v.rows === 0 ? 'empty' : `${v.rows.toLocaleString('en')} restricted + history rows`}`;
        summary.push({ figure: `auth ratio to ${process.env.BENCH_BARE_BATCHED === '1' ? 'batched bare' : 'bare'} Fastify (${label})`, value: `${ratio.toFixed(2)} (${r.rps.toFixed(0)} vs ${bound.rps.toFixed(0)} req/s, p50 ${r.latency.median.toFixed(1)} ms, p99 ${r.latency.p99.toFixed(1)} ms)`, bound: `CPU per request: ${cpuCell(cpu, bareRuns, svcRuns)}` });
        notes.push(`${label}: seeded in ${seedS.toFixed(1)} s; the (last) service process took ${startS.toFixed(1)} s from spawn to listening${firstDatasetS >= 1 ? `, then ${firstDatasetS.toFixed(0)} s to publish its first dataset (built after listening on a big store; the load starts after it)` : ''}; answers ${Object.entries(decisions).map(([k, n]) => `${k} ${n}`).join(', ')}; CPU after its own rounds (counted on its side): service ${spill.svc.toFixed(0)} ms, bare ${spill.bare.toFixed(0)} ms`);
        if (database) await dropPgDatabase(v.database!, database);
      } catch (e) {
        // One variant failing (e.g. a service that does not start in time) is a figure too; the next runs.
        if (process.env.BENCH_DEBUG) console.error(e);
        const msg = String((e as Error)?.message ?? e).split('\n')[0].slice(0, 200);
        table.push([v.backend, String(v.instances), v.rows === 0 ? 'empty' : `${v.rows.toLocaleString('en')} restricted + ${v.rows.toLocaleString('en')} history`, `**failed**: ${msg}`, '', '', '', '', '', '']);
        summary.push({ figure: `auth ratio to bare Fastify (${v.backend}, ${v.instances} instance${v.instances > 1 ? 's' : ''}, ${v.rows === 0 ? 'empty' : `${v.rows.toLocaleString('en')} rows`})`, value: `FAILED: ${msg}` });
        await killAllTracked();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await killAllTracked();
  }
  if (!pgUrl) notes.push(PG_SKIPPED_NOTE);
  return {
    title: 'Network service: /v1/auth next to a bare Fastify route',
    markdown:
      `${markdownTable(['backend', 'instances', 'rows', 'service', 'service p50 / p99', 'bare route', 'bare p50 / p99', 'ratio', 'CPU ms/request: service (+PostgreSQL) vs bare → ratio', 'non-200'], table)}\n\n` +
      `New cards (random tokens) with a customer context, ${CONNECTIONS} keep-alive connections, closed loop, ${seconds} s each in ${ROUNDS} alternating rounds (2 s warm-up per round); ` +
      `the load generator shares the machine's ${os.cpus().length} cores with the server(s). CPU per request: user+system CPU of the server processes and their children (the dataset build child; and of the PostgreSQL server's processes when PRECHECK_BENCH_PG_DATADIR names its data directory here: its background processes and the bench database's backends, not those of other databases on a shared cluster) over the rounds, warm-ups included, divided by the requests answered; its ratio (bare ÷ service) is what throughput would be on an otherwise idle machine where the service is CPU-bound, and depends far less than req/s on other jobs' load. Bare route: Fastify with the same ajv options validating the same request schema, constant answer, in its own process${process.env.BENCH_BARE_BATCHED === '1' ? "; here with the service's onSend hook that writes a turn's answers together (BENCH_BARE_BATCHED=1)" : ' (plain; BENCH_BARE_BATCHED=1 adds the service\'s onSend hook that writes a turn\'s answers together)'}.\n\n` +
      notes.map((n) => `- ${n}`).join('\n'),
    summary,
  };
}



if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
  for (const s of r.summary) process.stdout.write(`${s.figure}: ${s.value}\n`);
}
