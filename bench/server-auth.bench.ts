// Network service benchmark: POST /v1/auth throughput and latency on loopback against 10^6
// restricted cards and 10^6 history rows (seeded straight through Storage), dataset build time
// and size per million restricted cards, and the delta size for 1% churn.
// The service runs as its own process (`precheck server`), so the load generator (undici, a few
// keep-alive connections) does not share its event loop. Loopback only; bounded in count and time.
// Standalone: node --import tsx bench/server-auth.bench.ts  (env BENCH_SCALE=0.1 for a quick run)
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { buildSnapshot } from '../protocol/dataset/index.ts';
import { openService } from '../server/service.ts';
import type { OutcomeRow, RestrictedEntry } from '../server/storage/storage.ts';
import { benchOutcomeRow } from './lib/outcome-rows.ts';
import { benchScale } from './lib/scale.ts';
import { markdownTable, summarize } from './lib/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'bin', 'precheck.js');

const mb = (n: number) => (n / 1024 / 1024).toFixed(2);

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string }[] }> {
  const scale = benchScale();
  const RESTRICTED = Math.round(1_000_000 * scale);
  const HISTORY_ROWS = Math.round(1_000_000 * scale);
  const EVENTS_PER_CARD = 4;
  const REQUESTS = Math.round(20_000 * Math.max(scale, 0.25));
  const CONNECTIONS = 4;
  const MAX_LOAD_MS = 60_000;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-server-'));
  const rows: string[][] = [];
  const summary: { figure: string; value: string }[] = [];
  try {
    const now = Math.floor(Date.now() / 1000);
    const svc = await openService({ dataDir: dir, logLevel: 'warn', publishDebounceMs: -1 });
    // ---- seed
    let t0 = performance.now();
    const restrictedTokens: Uint8Array[] = [];
    for (let i = 0; i < RESTRICTED; i += 50_000) {
      const batch: RestrictedEntry[] = [];
      for (let j = i; j < Math.min(RESTRICTED, i + 50_000); j++) {
        const token = new Uint8Array(crypto.randomBytes(16));
        restrictedTokens.push(token);
        batch.push({ token, bin: '411111', last4: '0000', reason: j % 3 === 0 ? 'stolen' : 'fraud', source: 'bench', addedAt: now, expiresAt: null });
      }
      await svc.storage.addRestricted(batch);
    }
    const seedRestrictedMs = performance.now() - t0;
    t0 = performance.now();
    const historyTokens: Uint8Array[] = [];
    const codes = ['51', '05', '91', null];
    for (let i = 0; i < HISTORY_ROWS; i += 50_000) {
      const batch: OutcomeRow[] = [];
      for (let j = i; j < Math.min(HISTORY_ROWS, i + 50_000); j++) {
        if (j % EVENTS_PER_CARD === 0) historyTokens.push(new Uint8Array(crypto.randomBytes(16)));
        batch.push(benchOutcomeRow(historyTokens[historyTokens.length - 1], j, now - (j % (20 * 86400)), 'USD', codes[j % codes.length]));
      }
      await svc.storage.importOutcomes(batch);
    }
    const seedHistoryMs = performance.now() - t0;
    rows.push(['seed restricted (storage, batches of 50k)', `${RESTRICTED.toLocaleString('en')} rows`, `${(seedRestrictedMs / 1000).toFixed(1)} s`]);
    rows.push(['seed history (storage, batches of 50k)', `${HISTORY_ROWS.toLocaleString('en')} rows / ${historyTokens.length.toLocaleString('en')} cards`, `${(seedHistoryMs / 1000).toFixed(1)} s`]);

    // ---- dataset build (full tables) and restricted-only size
    const full = await svc.publisher.publish('bench');
    rows.push(['dataset build, full tables', `${mb(full.info.bytes)} MiB, ${full.info.chunkCount} chunks`, `${(full.buildMs / 1000).toFixed(2)} s`]);
    t0 = performance.now();
    const onlyRestricted = buildSnapshot(
      { restricted: restrictedTokens.map((token) => ({ token, reason: 'fraud' })), knownGood: [], history: [], binRules: [], prompts: [], routes: [] },
      { version: 1, createdAt: now, expiresAt: now + 86400 },
      svc.keys.signingPrivateKey,
    );
    const restrictedBuildMs = performance.now() - t0;
    const perMillion = (onlyRestricted.manifest.size / RESTRICTED) * 1e6;
    rows.push(['restricted-only snapshot (encode + chunk + sign)', `${mb(onlyRestricted.manifest.size)} MiB (${((onlyRestricted.manifest.size * 8) / RESTRICTED).toFixed(1)} bits/card)`, `${(restrictedBuildMs / 1000).toFixed(2)} s`]);
    summary.push({ figure: 'server: restricted-only dataset per 10^6 cards', value: `${mb(perMillion)} MiB` });
    summary.push({ figure: 'server: full dataset build (10^6 restricted + 10^6 history rows)', value: `${(full.buildMs / 1000).toFixed(2)} s, ${mb(full.info.bytes)} MiB` });

    // ---- 1% churn delta
    const churn = Math.round(RESTRICTED / 100);
    for (let i = 0; i < churn; i++) await svc.storage.removeRestricted(restrictedTokens[i]);
    const added: RestrictedEntry[] = Array.from({ length: churn }, () => ({ token: new Uint8Array(crypto.randomBytes(16)), bin: '411111', last4: '0000', reason: 'fraud', source: 'bench', addedAt: now, expiresAt: null }));
    await svc.storage.addRestricted(added);
    const second = await svc.publisher.publish('bench churn');
    t0 = performance.now();
    await svc.publisher.delta(full.info.version, second.info.version);
    const deltaMs = performance.now() - t0;
    const deltaRow = (await svc.storage.deltaManifest(full.info.version, second.info.version))!;
    // size from the stored chunks
    let deltaBytes = 0;
    for (let i = 0; ; i++) {
      const c = await svc.storage.deltaChunk(full.info.version, second.info.version, i);
      if (!c) break;
      deltaBytes += c.length;
    }
    rows.push([`delta for 1% churn (${churn.toLocaleString('en')} removed + ${churn.toLocaleString('en')} added)`, `${(deltaBytes / 1024).toFixed(0)} KiB (${((deltaBytes / second.info.bytes) * 100).toFixed(1)}% of the snapshot), manifest ${deltaRow.length} B`, `${(deltaMs / 1000).toFixed(2)} s`]);
    summary.push({ figure: 'server: delta for 1% churn of 10^6 restricted', value: `${(deltaBytes / 1024).toFixed(0)} KiB` });
    const key = await svc.issueKey('bench');
    await svc.close();

    // ---- HTTP auth load against a separate server process
    const child = spawn(process.execPath, [CLI, 'server', '--data', dir, '--port', '0', '--log-level', 'warn', '--rate-limit', '100000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error('server did not start in 60 s')), 60_000);
        child.stdout!.on('data', (b) => {
          out += b;
          const m = /listening on (http:\/\/[^\s]+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
      });
      const pool = new Pool(url, { connections: CONNECTIONS, pipelining: 1 });
      const hex = (t: Uint8Array) => Buffer.from(t).toString('hex');
      const bodyFor = (i: number) => {
        const kind = i % 3;
        const token = kind === 0 ? hex(restrictedTokens[churn + (i % (restrictedTokens.length - churn))]) : kind === 1 ? hex(historyTokens[i % historyTokens.length]) : crypto.randomBytes(16).toString('hex');
        return JSON.stringify({ token, bin: '411111', last4: '0000', brand: 'visa', expMonth: 12, expYear: 2099, order: { id: `b${i}`, amount: { value: 2500, currency: 'USD' } } });
      };
      const headers = { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' };
      // warm-up
      for (let i = 0; i < 200; i++) await (await pool.request({ path: '/v1/auth', method: 'POST', headers, body: bodyFor(i) })).body.json();
      const lat: number[] = [];
      const decisions: Record<string, number> = {};
      let next = 0;
      let errors = 0;
      const start = performance.now();
      const worker = async () => {
        while (next < REQUESTS && performance.now() - start < MAX_LOAD_MS) {
          const i = next++;
          const body = bodyFor(i);
          const t = performance.now();
          const res = await pool.request({ path: '/v1/auth', method: 'POST', headers, body });
          const j = (await res.body.json()) as { decision?: string; reason?: string };
          lat.push(performance.now() - t);
          if (res.statusCode !== 200) errors++;
          const k = `${j.decision}/${j.reason}`;
          decisions[k] = (decisions[k] ?? 0) + 1;
        }
      };
      await Promise.all(Array.from({ length: CONNECTIONS * 2 }, worker));
      const elapsed = (performance.now() - start) / 1000;
      await pool.close();
      const s = summarize(lat);
      const rps = lat.length / elapsed;
      rows.push([`POST /v1/auth, ${CONNECTIONS} connections, ${CONNECTIONS * 2} in flight`, `${lat.length.toLocaleString('en')} requests, ${errors} errors, ${rps.toFixed(0)} req/s`, `p50 ${s.median.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`]);
      summary.push({ figure: 'server: /v1/auth throughput (loopback)', value: `${rps.toFixed(0)} req/s` });
      summary.push({ figure: 'server: /v1/auth latency p50 / p99', value: `${s.median.toFixed(2)} / ${s.p99.toFixed(2)} ms` });
      const mix = Object.entries(decisions).map(([k, v]) => `${k} ${v}`).join(', ');
      return {
        title: 'Network service: auth, dataset build, deltas',
        markdown: `${markdownTable(['what', 'size', 'time'], rows)}\n\nDecision mix: ${mix}. Scale ${scale} (1 = 10^6 restricted cards and 10^6 history rows). The server is a separate \`precheck server\` process on 127.0.0.1 sharing the machine's ${os.cpus().length} cores with the load generator.`,
        summary,
      };
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
}
