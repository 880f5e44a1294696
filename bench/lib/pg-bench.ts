// PostgreSQL for benchmarks: the server named by PRECHECK_BENCH_DATABASE_URL (or
// PRECHECK_TEST_DATABASE_URL), and a fresh database per run (dropped afterwards).
import crypto from 'node:crypto';
import pg from 'pg';

export function pgBenchUrl(): string | null {
  return process.env.PRECHECK_BENCH_DATABASE_URL ?? process.env.PRECHECK_TEST_DATABASE_URL ?? null;
}

export async function freshPgDatabase(url: string): Promise<string> {
  const name = `precheck_bench_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function dropPgDatabase(adminUrl: string, url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}
