// How long `precheck server` takes to start on a big store: 10^6 restricted cards, 10^6 history
// rows (over 20 days) and 10^6 trust attempts (over 30 days) — from spawn to the first 200 of
// /v1/health, then to the first /v1/auth answer (what a lazily loaded structure costs the first
// request). The first start builds the first dataset (publishOnStart); the restarts find it stored:
// what an operator restarting an instance waits for.
// Variants: SQLite, and PostgreSQL when PRECHECK_BENCH_DATABASE_URL (or PRECHECK_TEST_DATABASE_URL)
// names a server (BENCH_BACKENDS as the other service benches). Knobs: BENCH_SCALE (rows),
// START_BENCH_STARTS (restarts after the first start, default 2), START_BENCH_KEEP=1 (keep the
// seeded store and print where), START_BENCH_SQLITE_SEEDED=<data dir> / START_BENCH_PG_TEMPLATE=<db
// name> (start from a copy of a store seeded before instead of seeding: for before/after runs),
// START_BENCH_CLI=<checkout>/bin/precheck.js (the code started).
// Seeding takes ~11 min per backend on this 2-core machine: under `npm run bench` give it
// BENCH_TIMEOUT_S=2400. Standalone: node --import tsx bench/service-start.bench.ts
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openService } from '../server/service.ts';
import type { OutcomeRow, RestrictedEntry, TrustAttemptRow } from '../server/storage/storage.ts';
import { killAllTracked, killAndWait, spawnTracked, waitForOutput } from '../testkit/process.ts';
import { adminQuery, benchBackends, dropPgDatabase, freshPgDatabase, pgBenchUrl, PG_SKIPPED_NOTE } from './lib/pg-bench.ts';
import { bridgeKey, quietService } from './lib/service-process.ts';
import { benchScale } from './lib/scale.ts';
import { markdownTable } from './lib/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
// START_BENCH_CLI: another checkout's bin/precheck.js (built), for a before/after pair on one seeded store.
const CLI = process.env.START_BENCH_CLI ?? path.join(here, '..', 'bin', 'precheck.js');
const BATCH = 50_000;

/** Seeds restricted cards, history rows and trust attempts straight through Storage, rows in time order as a service writes them. */
async function seed(dataDir: string, database: string | null, rows: number): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const svc = await openService(quietService(dataDir, database));
  try {
    for (let i = 0; i < rows; i += BATCH) {
      const batch: RestrictedEntry[] = [];
      for (let j = i; j < Math.min(rows, i + BATCH); j++) {
        batch.push({ token: new Uint8Array(crypto.randomBytes(16)), bin: '411111', last4: '0000', reason: 'fraud', source: 'bench', addedAt: now, expiresAt: null });
      }
      await svc.storage.addRestricted(batch);
    }
    let token = new Uint8Array(16);
    for (let i = 0; i < rows; i += BATCH) {
      const batch: OutcomeRow[] = [];
      for (let j = i; j < Math.min(rows, i + BATCH); j++) {
        if (j % 4 === 0) token = new Uint8Array(crypto.randomBytes(16));
        batch.push({
          idempotencyKey: '', merchant: `m${j % 50}`, token, bin: '411111', last4: '0000', brand: 'visa', orderId: `h${j}`,
          amount: 1000 + (j % 5000), currency: 'USD', gateway: j % 2 ? 'gw-a' : 'gw-b', status: j % 5 ? 'success' : 'failure',
          code: j % 5 ? null : '51', type: j % 5 ? null : 'soft', at: now - 20 * 86_400 + Math.floor((j * 20 * 86_400) / rows), hard: false,
        });
      }
      await svc.storage.importOutcomes(batch);
    }
    // Trust attempts as the auth path writes them (hashed identifiers): 50 000 accounts, devices, IPs.
    const h = (s: string) => crypto.createHash('sha256').update(s).digest('base64url').slice(0, 22);
    for (let i = 0; i < rows; i += BATCH) {
      const batch: TrustAttemptRow[] = [];
      for (let j = i; j < Math.min(rows, i + BATCH); j++) {
        const a = (j * 7919) % 50_000;
        batch.push({
          merchant: `m${j % 50}`, orderId: `t${j}`, token: new Uint8Array(crypto.randomBytes(16)), account: h(`a${a}`), device: h(`d${a % 40_000}`), ip: h(`i${a}`),
          ipCountry: 'US', cardCountry: 'US', at: now - 60 - 30 * 86_400 + Math.floor((j * 30 * 86_400) / rows), features: [0, 1, 0, 0.5], modelVersion: null,
        });
      }
      await svc.storage.insertTrustAttempts(batch);
    }
  } finally {
    await svc.close();
  }
}

interface StartTimes {
  listeningMs: number;
  healthMs: number;
  firstAuthMs: number;
}

/** One `precheck server` start: spawn → "listening" → first 200 of /v1/health → first /v1/auth answer; then stop. */
async function timeStart(dataDir: string, database: string | null, key: string): Promise<StartTimes> {
  const args = [CLI, 'server', '--data', dataDir, '--port', '0', '--log-level', 'warn', '--train-schedule', 'off'];
  if (database) args.push('--database', database);
  const node = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const t0 = performance.now();
  const child = spawnTracked(process.execPath, [...node, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const m = await waitForOutput(child, /listening on (http:\/\/\S+)/, { stream: 'stdout', timeoutMs: (Number(process.env.SERVICE_START_TIMEOUT_S) || 900) * 1000 });
    const listeningMs = performance.now() - t0;
    const url = m[1];
    for (;;) {
      const r = await fetch(`${url}/v1/health`).catch(() => null);
      if (r?.status === 200) break;
      await r?.body?.cancel();
    }
    const healthMs = performance.now() - t0;
    const a = await fetch(`${url}/v1/auth`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        token: crypto.randomBytes(16).toString('hex'), bin: '411111', last4: '4242', brand: 'visa', expMonth: 12, expYear: 2099,
        order: { id: `start-${crypto.randomBytes(4).toString('hex')}`, amount: { value: 2500, currency: 'USD' }, country: 'US' },
        customer: { accountId: 'acct-1', deviceId: 'dev-1', ip: '10.0.0.7', ipCountry: 'US' },
      }),
    });
    await a.text();
    if (a.status !== 200) throw new Error(`first /v1/auth answered ${a.status}`);
    return { listeningMs, healthMs, firstAuthMs: performance.now() - t0 };
  } finally {
    await killAndWait(child, 30_000);
  }
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string; bound?: string }[] }> {
  const rows = Math.round(1_000_000 * benchScale());
  const restarts = Number(process.env.START_BENCH_STARTS ?? 2);
  const keep = process.env.START_BENCH_KEEP === '1';
  const pgUrl = pgBenchUrl();
  const backends = benchBackends();
  const table: string[][] = [];
  const summary: { figure: string; value: string; bound?: string }[] = [];
  const notes: string[] = [];
  const variants: ('SQLite' | 'PostgreSQL')[] = [];
  if (backends.sqlite) variants.push('SQLite');
  if (pgUrl && backends.postgres) variants.push('PostgreSQL');
  try {
    for (const backend of variants) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-start-'));
      let database: string | null = null;
      try {
        let seededS = 0;
        const seededDir = process.env.START_BENCH_SQLITE_SEEDED;
        const template = process.env.START_BENCH_PG_TEMPLATE;
        let key: string;
        if (backend === 'SQLite' && seededDir) {
          fs.cpSync(seededDir, dir, { recursive: true });
          key = fs.readFileSync(path.join(dir, 'bench.key'), 'utf8').trim();
          notes.push(`SQLite: a copy of ${seededDir}`);
        } else if (backend === 'PostgreSQL' && template) {
          const name = `pgstart_bench_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
          await adminQuery(pgUrl!, `CREATE DATABASE ${name} TEMPLATE ${template}`);
          const u = new URL(pgUrl!);
          u.pathname = `/${name}`;
          database = u.toString();
          // The key is in the template's api_keys; its clear text was kept next to it.
          key = fs.readFileSync(path.join(os.tmpdir(), `${template}.key`), 'utf8').trim();
          fs.cpSync(path.join(os.tmpdir(), `${template}.dir`), dir, { recursive: true });
          notes.push(`PostgreSQL: a copy of database ${template}`);
        } else {
          if (backend === 'PostgreSQL') database = await freshPgDatabase(pgUrl!);
          key = await bridgeKey(dir, database);
          const t0 = performance.now();
          await seed(dir, database, rows);
          seededS = (performance.now() - t0) / 1000;
          fs.writeFileSync(path.join(dir, 'bench.key'), `${key}\n`);
          // Kept before the first start changes it (a dataset), so later runs start where this one did.
          if (keep) {
            if (database) {
              const name = `${new URL(database).pathname.slice(1)}_seed`;
              await adminQuery(pgUrl!, `CREATE DATABASE ${name} TEMPLATE ${new URL(database).pathname.slice(1)}`);
              fs.writeFileSync(path.join(os.tmpdir(), `${name}.key`), `${key}\n`);
              fs.cpSync(dir, path.join(os.tmpdir(), `${name}.dir`), { recursive: true });
              notes.push(`kept: PostgreSQL database ${name} (START_BENCH_PG_TEMPLATE=${name})`);
            } else {
              const kept = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-start-seeded-'));
              fs.cpSync(dir, kept, { recursive: true });
              notes.push(`kept: SQLite data dir ${kept} (START_BENCH_SQLITE_SEEDED=${kept})`);
            }
          }
        }
        const times: StartTimes[] = [];
        for (let i = 0; i <= restarts; i++) times.push(await timeStart(dir, database, key));
        const label = `${backend}, ${rows.toLocaleString('en')} restricted + ${rows.toLocaleString('en')} history + ${rows.toLocaleString('en')} trust attempts`;
        times.forEach((t, i) => {
          table.push([backend, i === 0 ? 'first start on the store' : `restart ${i}`, s(t.listeningMs), s(t.healthMs), s(t.firstAuthMs)]);
        });
        const re = times.slice(1);
        if (re.length) {
          const med = re.map((t) => t.healthMs).sort((a, b) => a - b)[Math.floor((re.length - 1) / 2)];
          summary.push({ figure: `service restart to healthy (${label})`, value: s(med), bound: `first start ${s(times[0].healthMs)}` });
        }
        if (seededS) notes.push(`${backend}: seeded in ${seededS.toFixed(1)} s`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        if (database) await dropPgDatabase(pgUrl!, database);
      }
    }
  } finally {
    await killAllTracked();
  }
  if (!pgUrl) notes.push(PG_SKIPPED_NOTE);
  return {
    title: 'Network service: start with 10^6 restricted cards, history rows and trust attempts',
    markdown:
      `${markdownTable(['backend', 'start', 'spawn → listening', 'spawn → /v1/health 200', 'spawn → first /v1/auth answer'], table)}\n\n` +
      `\`precheck server\` in its own process on a seeded store (restricted cards, history rows over 20 days, trust attempts over 30 days), stopped after the first /v1/auth answer. The first start on a freshly seeded store finds no dataset (it builds the first one: before listening below publishOnStartBlockingMaxRows, after it above) and runs any pending migrations; restarts find both done.\n\n` +
      notes.map((n) => `- ${n}`).join('\n'),
    summary,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
  for (const x of r.summary) process.stdout.write(`${x.figure}: ${x.value}${x.bound ? ` (${x.bound})` : ''}\n`);
}
