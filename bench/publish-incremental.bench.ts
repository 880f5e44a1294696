// Dataset publish after a small change (issue 11: "a build's cost stays proportional to the
// change"): the service's incremental publish (server/datasets/builder.ts, the newest versions
// kept in memory as DatasetIndex) against the full build it replaced, measured in the same run on
// the same tables: read the tables, encode the whole snapshot, and for each of the 2 delta bases
// decode the stored version and diff it as objects (the old runBuildJob, minus its storage
// writes, so the bound flatters the old code slightly).
//
// Each round adds one outcome (a new event on a known card, as the market simulator's orders do)
// and publishes. Sizes: PUBLISH_BENCH_HISTORY cards with history (default 30 000, about the
// steady scenario's month), PUBLISH_BENCH_RESTRICTED restricted cards (default 1 000), rounds
// PUBLISH_BENCH_RUNS (default 30).
//
//   node --import tsx bench/publish-incremental.bench.ts      (or npm run bench -- publish-incremental)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDelta, buildSnapshot } from '../protocol/dataset/index.ts';
import { RULES_VERSION } from '../rules/decide.ts';
import { openService } from '../server/service.ts';
import { readContent, storedContent } from '../server/datasets/builder.ts';
import type { OutcomeRow, RestrictedEntry } from '../server/storage/storage.ts';
import { benchOutcomeRow } from './lib/outcome-rows.ts';
import { markdownTable, median, p99 } from './lib/stats.ts';
import type { BenchResult } from './run.ts';

const num = (name: string, d: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : d;
};

/** Deterministic 16-byte token for card i (tokens are HMAC outputs: any distinct bytes do). */
function token(i: number, salt: number): Uint8Array {
  const t = new Uint8Array(16);
  let x = (i + 1) * 2654435761 + salt * 40503;
  for (let k = 0; k < 16; k++) {
    x = (Math.imul(x ^ (x >>> 15), 2246822507) + k) >>> 0;
    t[k] = x & 0xff;
  }
  t.set([i & 0xff, (i >>> 8) & 0xff, (i >>> 16) & 0xff], 13); // distinct for i < 2^24
  return t;
}

function outcome(tok: Uint8Array, j: number, at: number): OutcomeRow {
  return benchOutcomeRow(tok, j, at, 'EUR', j % 4 === 1 ? '51' : null);
}

const ms = (x: number) => `${x.toFixed(1)} ms`;

export async function run(): Promise<BenchResult> {
  const H = num('PUBLISH_BENCH_HISTORY', 30_000);
  const R = num('PUBLISH_BENCH_RESTRICTED', 1_000);
  const RUNS = num('PUBLISH_BENCH_RUNS', 30);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-publish-'));
  const now = 1_800_000_000;
  const svc = await openService({ dataDir: dir, logLevel: 'warn', publishDebounceMs: -1, buildInChild: false, now: () => now * 1000, train: { schedule: null } } as Parameters<typeof openService>[0]);
  try {
    const restricted: RestrictedEntry[] = Array.from({ length: R }, (_, i) => ({ token: token(i, 1), bin: '411111', last4: '0000', reason: i % 3 ? 'stolen' : 'fraud', source: 'bench', addedAt: now, expiresAt: null }));
    await svc.storage.addRestricted(restricted);
    let j = 0;
    for (let i = 0; i < H; i += 10_000) {
      const batch: OutcomeRow[] = [];
      for (let c = i; c < Math.min(H, i + 10_000); c++) {
        batch.push(outcome(token(c, 2), j++, now - 86400 * (1 + (c % 20))));
        if (c % 2 === 0) batch.push(outcome(token(c, 2), j++, now - 3600 * (1 + (c % 20))));
      }
      await svc.storage.importOutcomes(batch);
    }
    const o = { historyWindowSeconds: 30 * 86400, maxEventsPerToken: 32, ttlSeconds: 7 * 86400, chunkSize: 4096 };
    const routes = async () => ({ routes: [], gatewayHealth: [] });
    const first = await svc.publisher.publish('bench', true); // cold: indexes the tables once
    await svc.publisher.publish('bench', true);
    const inc: number[] = [];
    const full: number[] = [];
    let deltaBytes = 0;
    for (let r = 0; r < RUNS; r++) {
      await svc.storage.importOutcomes([outcome(token((r * 7919) % H, 2), j++, now - 60 + r)]);
      const p = await svc.publisher.publish('bench');
      if (!p.created) throw new Error('the change made no new version');
      inc.push(p.buildMs);
      deltaBytes = p.deltas[0]?.bytes ?? 0;
      // The bound: the full build of the same state, as the publisher did it before.
      const t0 = performance.now();
      const content = await readContent(svc.storage, { ...o, keepVersions: 8 }, now, await routes());
      const opts = { version: p.info.version, createdAt: p.info.createdAt, expiresAt: p.info.expiresAt, chunkSize: o.chunkSize, rulesVersion: RULES_VERSION };
      const snap = buildSnapshot(content, opts, svc.keys.signingPrivateKey);
      for (const from of [p.info.version - 1, p.info.version - 2]) {
        const base = await storedContent(svc.storage, svc.keys, from);
        if (base) buildDelta(base, content, { ...opts, baseVersion: from }, svc.keys.signingPrivateKey);
      }
      full.push(performance.now() - t0);
      if (Buffer.from(snap.manifest.contentHash).toString('hex') !== p.info.contentHash) throw new Error('incremental and full builds differ');
    }
    const ratio = median(inc) / median(full);
    const rows = [
      ['incremental publish (this code): read the restricted and known-good tables and the history of changed cards, re-encode changed entries, splice, 2 deltas, sign, store', ms(median(inc)), ms(p99(inc))],
      ['full build (bound, the code before): read tables, encode all, decode 2 stored bases, diff, sign', ms(median(full)), ms(p99(full))],
    ];
    const size = `${H.toLocaleString('en')} cards with history (${j.toLocaleString('en')} outcome rows), ${R.toLocaleString('en')} restricted; snapshot ${(first.info.bytes / 2 ** 20).toFixed(2)} MiB, delta after one outcome ${deltaBytes} B`;
    return {
      title: 'Network service: dataset publish after one outcome, incremental vs full build',
      markdown: `${markdownTable(['build', 'median', 'p99'], rows)}\n\n${size}; ${RUNS} rounds, one outcome each, same process and tables, both builds of each round checked to give the same content hash. Ratio incremental / full (median): **${ratio.toFixed(2)}**. Machine load average at the end: ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores.`,
      summary: [{ figure: `dataset publish after one outcome (${H.toLocaleString('en')} history cards)`, value: `${ms(median(inc))} (p99 ${ms(p99(inc))})`, bound: `full build ${ms(median(full))} (p99 ${ms(p99(full))})`, ratio: ratio.toFixed(2) }],
    };
  } finally {
    await svc.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run();
  process.stdout.write(`${typeof r === 'string' ? r : r.markdown}\n`);
}
