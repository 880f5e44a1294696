// Dataset build on PostgreSQL (issue 12): 10^6 and 10^7 restricted cards, build time and peak
// memory of the building process, snapshot size, and the delta a device downloads after 1 % churn
// (1 % of the cards removed, as many new ones added). Bound: encoding the same tokens alone
// (buildSnapshot over an in-memory list, measured in the same run at 10^6) — what a build costs
// without reading the database.
// Each build runs in its own process (bench/lib/publish-child.ts: the service's publisher in
// process, as its build child does), so its peak resident memory is the build's.
// Seeding is SQL on the server (tokens = md5 of a counter: 16 bytes, deterministic), not timed.
// Needs PRECHECK_BENCH_DATABASE_URL (or PRECHECK_TEST_DATABASE_URL): a server where the user may
// CREATE DATABASE. DATASET_BENCH_SIZES=1000000,10000000 (default; BENCH_SCALE scales them);
// DATASET_BENCH_CHURN_UP_TO=N runs the churn + delta step only at sizes up to N. A failed build
// (e.g. out of memory) is reported as such, and the next size still runs.
// Standalone: node --import tsx bench/dataset-pg.bench.ts
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { buildSnapshot } from '../protocol/dataset/index.ts';
import { openService } from '../server/service.ts';
import { freshPgDatabase, dropPgDatabase, pgBenchUrl } from './lib/pg-bench.ts';
import { benchScale } from './lib/scale.ts';
import { markdownTable } from './lib/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const run$ = promisify(execFile);
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

interface Built {
  version: number;
  bytes: number;
  chunks: number;
  buildMs: number;
  wallMs: number;
  deltas: { from: number; bytes: number; ms: number }[];
  rssBefore: number;
  maxRss: number;
}

async function publishInChild(dataDir: string, database: string): Promise<Built> {
  const r = await run$(process.execPath, ['--import', 'tsx', path.join(here, 'lib', 'publish-child.ts'), dataDir, database], { maxBuffer: 1 << 20, timeout: 3_600_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Built;
}

/** What a failed build child said: Node's heap exhaustion, or the error's first line. */
function firstLine(e: unknown): string {
  const m = String((e as Error)?.message ?? e);
  if (/heap out of memory|allocation failure|Mark-Compact/.test(m)) return 'the building process ran out of heap (Node\'s default limit, ~4 GB here)';
  return m.split('\n')[0].slice(0, 200);
}

async function sql(url: string, text: string, params: unknown[] = []): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text, params);
  } finally {
    await c.end();
  }
}

const seedSql = `INSERT INTO restricted (token, bin, last4, reason, source, added_at, expires_at)
  SELECT decode(md5('precheck-bench-' || g), 'hex'), '411111', '0000', CASE WHEN g % 3 = 0 THEN 'stolen' ELSE 'fraud' END, 'bench', $3::bigint, NULL
  FROM generate_series($1::bigint, $2::bigint) g ON CONFLICT DO NOTHING`;

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string; bound?: string; ratio?: string }[] }> {
  const admin = pgBenchUrl();
  const title = 'Network service: dataset build on PostgreSQL (10^6 and 10^7 restricted cards)';
  if (!admin) return { title, markdown: 'Skipped: set PRECHECK_BENCH_DATABASE_URL (a PostgreSQL server where the user may CREATE DATABASE).', summary: [] };
  const sizes = (process.env.DATASET_BENCH_SIZES ?? '1000000,10000000').split(',').map((s) => Math.max(1000, Math.round(Number(s) * benchScale())));
  const rows: string[][] = [];
  const summary: { figure: string; value: string; bound?: string; ratio?: string }[] = [];
  const notes: string[] = [];
  const now = Math.floor(Date.now() / 1000);
  const churnUpTo = Number(process.env.DATASET_BENCH_CHURN_UP_TO ?? Number.POSITIVE_INFINITY);
  for (const n of sizes) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-dspg-'));
    const db = await freshPgDatabase(admin);
    try {
      // Schema and keys: open the service once.
      await (await openService({ dataDir: dir, database: db, logLevel: 'warn', publishDebounceMs: -1, publishOnStart: false, train: { schedule: null } } as Parameters<typeof openService>[0])).close();
      let t0 = performance.now();
      for (let i = 1; i <= n; i += 1_000_000) await sql(db, seedSql, [i, Math.min(n, i + 999_999), now]);
      await sql(db, 'VACUUM ANALYZE restricted');
      const seedS = (performance.now() - t0) / 1000;
      const label = n.toLocaleString('en');
      let full: Built;
      try {
        full = await publishInChild(dir, db);
      } catch (e) {
        rows.push([`${label} restricted`, 'full snapshot', `**failed**: ${firstLine(e)}`, '', '', '', '']);
        summary.push({ figure: `dataset build on PostgreSQL, ${label} restricted`, value: `FAILED: ${firstLine(e)}` });
        notes.push(`${label}: seeded in ${seedS.toFixed(0)} s`);
        continue;
      }
      rows.push([`${label} restricted`, 'full snapshot', `${(full.buildMs / 1000).toFixed(1)} s`, mib(full.bytes), `${full.chunks}`, mib(full.maxRss), mib(full.rssBefore)]);
      summary.push({ figure: `dataset build on PostgreSQL, ${label} restricted`, value: `${(full.buildMs / 1000).toFixed(1)} s, peak RSS ${mib(full.maxRss)}, ${mib(full.bytes)}` });
      if (n > churnUpTo) {
        notes.push(`${label}: seeded in ${seedS.toFixed(0)} s (SQL on the server); churn and delta not run at this size (DATASET_BENCH_CHURN_UP_TO=${churnUpTo})`);
        continue;
      }
      // 1 % churn: the first 1 % removed, as many new cards added.
      const churn = Math.round(n / 100);
      t0 = performance.now();
      await sql(db, `DELETE FROM restricted WHERE token IN (SELECT decode(md5('precheck-bench-' || g), 'hex') FROM generate_series(1, $1::bigint) g)`, [churn]);
      await sql(db, seedSql, [n + 1, n + churn, now]);
      const churnS = (performance.now() - t0) / 1000;
      let second: Built;
      try {
        second = await publishInChild(dir, db);
      } catch (e) {
        rows.push([`${label} restricted`, `after 1 % churn (${churn.toLocaleString('en')} out, ${churn.toLocaleString('en')} in): snapshot + delta`, `**failed**: ${firstLine(e)}`, '', '', '', '']);
        summary.push({ figure: `delta for 1 % churn of ${label} restricted (PostgreSQL)`, value: `FAILED: ${firstLine(e)}` });
        notes.push(`${label}: seeded in ${seedS.toFixed(0)} s (SQL on the server), churn applied in ${churnS.toFixed(1)} s`);
        continue;
      }
      const delta = second.deltas.find((d) => d.from === full.version);
      rows.push([`${label} restricted`, `after 1 % churn (${churn.toLocaleString('en')} out, ${churn.toLocaleString('en')} in): snapshot + delta`, `${(second.buildMs / 1000).toFixed(1)} s`, `${mib(second.bytes)}; delta ${delta ? `${(delta.bytes / 1024).toFixed(0)} KiB (${((delta.bytes / second.bytes) * 100).toFixed(2)} % of the snapshot), built in ${(delta.ms / 1000).toFixed(1)} s` : 'not built'}`, `${second.chunks}`, mib(second.maxRss), mib(second.rssBefore)]);
      if (delta) summary.push({ figure: `delta for 1 % churn of ${label} restricted (PostgreSQL)`, value: `${(delta.bytes / 1024).toFixed(0)} KiB`, bound: `snapshot ${mib(second.bytes)}`, ratio: `${(delta.bytes / second.bytes).toFixed(4)}` });
      notes.push(`${label}: seeded in ${seedS.toFixed(0)} s (SQL on the server), churn applied in ${churnS.toFixed(1)} s`);
      if (n === sizes[0]) {
        // Bound: the same number of tokens encoded, chunked and signed from memory (no database).
        const keys = await openService({ dataDir: dir, database: db, logLevel: 'warn', publishDebounceMs: -1, publishOnStart: false, train: { schedule: null } } as Parameters<typeof openService>[0]);
        try {
          const tokens = Array.from({ length: n }, (_, i) => ({ token: new Uint8Array(crypto.createHash('md5').update(`precheck-bench-${i + 1}`).digest()), reason: 'fraud' }));
          t0 = performance.now();
          const s = buildSnapshot({ restricted: tokens, knownGood: [], history: [], binRules: [], prompts: [], routes: [] }, { version: 1, createdAt: now, expiresAt: now + 86400 }, keys.keys.signingPrivateKey);
          const boundMs = performance.now() - t0;
          rows.push([`${label} restricted`, 'bound: encode + chunk + sign the same tokens from memory', `${(boundMs / 1000).toFixed(1)} s`, mib(s.manifest.size), '', '', '']);
          summary.push({ figure: `dataset build ÷ in-memory encode, ${label} restricted (PostgreSQL)`, value: `${(full.buildMs / 1000).toFixed(1)} s vs ${(boundMs / 1000).toFixed(1)} s`, ratio: `${(full.buildMs / boundMs).toFixed(1)}×` });
        } finally {
          await keys.close();
        }
      }
    } finally {
      await dropPgDatabase(admin, db);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    title,
    markdown:
      `${markdownTable(['cards', 'build', 'build time', 'size', 'chunks', 'peak RSS of the building process', 'RSS before the build'], rows)}\n\n` +
      'Build time = the publisher\'s build (read the tables, encode, chunk, sign, store manifest + chunks; with the churn row also the delta from the previous version, built in the same job). ' +
      'Peak RSS = the building process\'s maximum resident set (it holds the service modules too: see "RSS before"). One PostgreSQL server on the same 2-core machine.\n\n' +
      notes.map((x) => `- ${x}`).join('\n'),
    summary,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
  for (const s of r.summary) process.stdout.write(`${s.figure}: ${s.value}${s.ratio ? ` (${s.ratio})` : ''}\n`);
}
