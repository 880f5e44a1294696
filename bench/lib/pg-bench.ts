// PostgreSQL for benchmarks: the server named by PRECHECK_BENCH_DATABASE_URL (or
// PRECHECK_TEST_DATABASE_URL), and a fresh database per run (testkit/pg-database.ts, dropped afterwards).
export { adminQuery, dropPgDatabase } from '../../testkit/pg-database.ts';
import { freshPgDatabase as fresh } from '../../testkit/pg-database.ts';

/** The note a service benchmark adds when it ran without PostgreSQL. */
export const PG_SKIPPED_NOTE = 'PostgreSQL variants skipped: set PRECHECK_BENCH_DATABASE_URL (a server where the user may CREATE DATABASE).';

export function pgBenchUrl(): string | null {
  return process.env.PRECHECK_BENCH_DATABASE_URL ?? process.env.PRECHECK_TEST_DATABASE_URL ?? null;
}

export const freshPgDatabase = (url: string): Promise<string> => fresh(url, 'precheck_bench');

/**
 * BENCH_BACKENDS: which backends the service benchmarks run (comma list of `sqlite`, `postgres`;
 * default both) — `BENCH_BACKENDS=postgres` runs only the PostgreSQL variants (minutes, not the
 * whole quarter hour).
 */
export function benchBackends(): { sqlite: boolean; postgres: boolean } {
  const v = (process.env.BENCH_BACKENDS ?? '').toLowerCase().split(',').map((x) => x.trim()).filter(Boolean);
  if (v.length === 0) return { sqlite: true, postgres: true };
  return { sqlite: v.includes('sqlite'), postgres: v.includes('postgres') || v.includes('postgresql') || v.includes('pg') };
}
