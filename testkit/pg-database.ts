// Scratch PostgreSQL databases for tests and benchmarks: a fresh database on the server `adminUrl`
// names (a user that may CREATE DATABASE), dropped afterwards.
import crypto from 'node:crypto';
import pg from 'pg';

/** One statement on the server `adminUrl` names, on a connection of its own (CREATE/DROP DATABASE). */
export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Creates `<prefix>_<pid>_<random>` and returns its URL (same server and credentials). */
export async function freshPgDatabase(adminUrl: string, prefix = 'precheck_test'): Promise<string> {
  const name = `${prefix}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function dropPgDatabase(adminUrl: string, url: string): Promise<void> {
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
}
