// Where the work of /v1/auth or /v1/outcomes goes with N `precheck server` instances on one
// PostgreSQL database (issue 12's multi-instance follow-up; not a *.bench.ts, so `npm run bench`
// does not run it): a closed loop of CONN (16) connections for S (10) seconds after a 2 s warm-up,
// then the CPU of every process per request (each instance, its build child, the PostgreSQL
// backends by application_name, background processes) and the database's own counts per request
// (WAL fsyncs and writes from pg_stat_wal, commits from pg_stat_database, statements and their
// execution time — lock waits included — from pg_stat_statements, which the cluster must load).
// RATE=n: an open loop of n requests/s instead; BARE=1: N bare Fastify routes instead.
//   PRECHECK_BENCH_DATABASE_URL=postgres://… PRECHECK_BENCH_PG_DATADIR=/path/to/data \
//   KIND=auth|outcomes N=2 node --import tsx bench/pg-work.ts
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { bridgeKey, startService, startBare } from './lib/service-process.ts';
import { closedLoopLoad } from './lib/http-load.ts';
import { processCpuMs, pgServerPids } from './lib/cpu.ts';
import { freshPgDatabase, dropPgDatabase } from './lib/pg-bench.ts';
import { killAllTracked } from '../testkit/process.ts';

const admin = process.env.PRECHECK_BENCH_DATABASE_URL!;
const instances = Number(process.env.N ?? 1);
const seconds = Number(process.env.S ?? 10);
const kind = process.env.KIND ?? 'auth';
const db = await freshPgDatabase(admin);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg2-measure-'));
try {
  const key = await bridgeKey(dir, db);
  let svc = await startService(dir, db, instances);
  if (process.env.BARE) { await svc.stop(); const bs: Awaited<ReturnType<typeof startBare>>[] = []; for (let k = 0; k < instances; k++) bs.push(await startBare()); svc = { urls: bs.flatMap((b) => b.urls), pids: bs.flatMap((b) => b.pids), stop: async () => { for (const b of bs) await b.stop(); } }; }
  const body = kind === 'auth' ? (i: number) => {
      const a = (i * 7919) % 20_000;
      return JSON.stringify({
        token: crypto.randomBytes(16).toString('hex'),
        bin: '411111', last4: String(1000 + (i % 9000)), brand: 'visa', expMonth: 12, expYear: 2099,
        order: { id: `o-${i}`, amount: { value: 2500 + (i % 50_000), currency: 'USD' }, country: 'US' },
        customer: { accountId: `acct-${a}`, deviceId: `dev-${a % 15_000}`, ip: `10.${(a >> 8) & 255}.${a & 255}.7`, ipCountry: a % 10 ? 'US' : 'GB' },
      });
    } : (i: number) => { const fail = i % 5 === 0; return JSON.stringify({
    idempotencyKey: `k-${i}`, token: crypto.createHash('sha256').update(`r/${i}`).digest('hex').slice(0, 32),
    bin: '411111', last4: String(1000 + (i % 9000)), brand: 'visa', orderId: `o${i}`, amount: 2500 + (i % 50_000), currency: 'USD',
    gateway: i % 2 ? 'gw-a' : 'gw-b', status: fail ? 'failure' : 'success', ...(fail ? { code: '05', type: 'soft' } : {}) }); };
  // warm
  await closedLoopLoad({ targets: svc.urls, path: kind === 'auth' ? '/v1/auth' : '/v1/outcomes', connections: 16, durationMs: 2000, warmupMs: 0, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: (i) => body(i + 10_000_000) });
  const c = new pg.Client({ connectionString: admin }); await c.connect();
  const act = async () => new Map((await c.query('select pid, coalesce(nullif(application_name, \'\'), backend_type) as n, datname from pg_stat_activity')).rows.map((r) => [Number(r.pid), `${r.n}${r.datname && r.datname !== new URL(db).pathname.slice(1) ? '@' + r.datname : ''}`]));
  const kids = () => { const out: number[] = []; for (const e of fs.readdirSync('/proc')) { if (!/^\d+$/.test(e)) continue; try { const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8'); const pp = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]); if (svc.pids.includes(pp)) out.push(Number(e)); } catch {} } return out; };
  const pids = () => [...svc.pids, ...kids(), ...(pgServerPids() ?? [])];
  const before = new Map(pids().map((p) => [p, processCpuMs(p)]));
  const names0 = await act();
  const dbName = new URL(db).pathname.slice(1);
  const pgstat = async () => {
    const w = (await c.query('select wal_records, wal_sync, wal_write from pg_stat_wal')).rows[0];
    await c.query('select pg_stat_clear_snapshot()');
    const d = (await c.query('select xact_commit from pg_stat_database where datname = $1', [dbName])).rows[0];
    const st = (await c.query('select coalesce(sum(calls),0) calls, coalesce(sum(total_exec_time),0) ms from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = $1', [dbName])).rows[0];
    return { sync: Number(w.wal_sync), writes: Number(w.wal_write), records: Number(w.wal_records), commits: Number(d.xact_commit), calls: Number(st.calls), execMs: Number(st.ms) };
  };
  const s0 = await pgstat();
  const lg0 = process.cpuUsage();
  const rate = Number(process.env.RATE ?? 0);
  const r = rate ? await openLoop(svc.urls, key, rate, seconds, body, kind) : await closedLoopLoad({ targets: svc.urls, path: kind === 'auth' ? '/v1/auth' : '/v1/outcomes', connections: Number(process.env.CONN ?? 16), durationMs: seconds * 1000, warmupMs: 0, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
  const lg = process.cpuUsage(lg0);
  await new Promise((r) => setTimeout(r, 700)); // stats flush
  const s1 = await pgstat();
  const names = new Map([...names0, ...(await act())]);
  const groups: Record<string, number> = {};
  for (const p of new Set([...before.keys(), ...pids()])) {
    const d = processCpuMs(p) - (before.get(p) ?? 0);
    const n = svc.pids.includes(p) ? `node service ${svc.pids.indexOf(p)}` : !(pgServerPids() ?? []).includes(p) && !names.has(p) ? 'node build child' : `pg ${names.get(p) ?? 'postmaster/other'}`;
    groups[n] = (groups[n] ?? 0) + d;
  }
  await c.end();
  const req = r.total ?? r.requests;
  console.log(`${kind} N=${instances}: ${req} requests, ${r.rps.toFixed(0)} req/s, p50 ${r.latency.median.toFixed(1)} ms; statuses ${JSON.stringify(r.statuses)}; loadgen ${((lg.user + lg.system) / 1000 / req).toFixed(3)} ms/req`);
  let tot = 0;
  for (const [k, v] of Object.entries(groups).sort((a, b) => b[1] - a[1])) { tot += v; console.log(`  ${k.padEnd(40)} ${(v / req).toFixed(3)} ms/req  (${v} ms)`); }
  console.log(`  total ${(tot / req).toFixed(3)} ms/req`);
  const per = (k: keyof typeof s0) => ((s1[k] - s0[k]) / req).toFixed(3);
  console.log(`  per request: WAL fsyncs ${per('sync')}, WAL writes ${per('writes')}, commits ${per('commits')}, statements ${per('calls')}, statement exec ms ${per('execMs')}`);
  await svc.stop();
} finally {
  await killAllTracked();
  await dropPgDatabase(admin, db);
  fs.rmSync(dir, { recursive: true, force: true });
}

async function openLoop(urls: string[], key: string, rate: number, seconds: number, body: (i: number) => string, kind: string) {
  const { Pool } = await import('undici');
  const pools = urls.map((u) => new Pool(u, { connections: 32, pipelining: 1 }));
  const lat: number[] = []; const statuses: Record<string, number> = {};
  const t0 = performance.now(); let i = 0; const inflight = new Set<Promise<void>>(); let dropped = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const due = t0 + (i * 1000) / rate;
    const w = due - performance.now();
    if (w > 0) await new Promise((r) => setTimeout(r, w));
    if (inflight.size >= 200) { dropped++; i++; continue; }
    const n = i++;
    const t = performance.now();
    const p = (async () => { const res = await pools[n % pools.length].request({ path: kind === 'auth' ? '/v1/auth' : '/v1/outcomes', method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body(n) }); await res.body.text(); lat.push(performance.now() - t); statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1; })();
    inflight.add(p); p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  await Promise.all(pools.map((p) => p.close()));
  lat.sort((a, b) => a - b);
  if (dropped) statuses.dropped = dropped;
  return { requests: lat.length, total: lat.length, seconds, rps: lat.length / seconds, latency: { median: lat[lat.length >> 1], p99: lat[Math.floor(lat.length * 0.99)] }, statuses, samples: lat };
}
