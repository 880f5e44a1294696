// Device-side dataset install: snapshot commit vs 1 % delta commit on a large dataset.
//
// A delta must not cost more than installing the whole snapshot: it carries 1 % of the data.
// Transfer (SYNC_BEGIN + chunks into the device store) and commit (chunk re-check, decode, install
// — snapshot: into the inactive slot; delta: in place in the active one — content check, switch) are timed apart; the delta commit is
// repeated over a chain of deltas (v1 → v2 → v3 ...) for median and p99.
//
//   node --import tsx bench/device-delta.bench.ts
//   BENCH_DELTA_CARDS=100000 BENCH_DELTA_RUNS=5 node --import tsx bench/device-delta.bench.ts
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DeviceCore } from '../device/core/device-core.ts';
import { buildDelta, buildSnapshot, generateSigningKeyPair } from '../protocol/dataset/index.ts';
import type { DatasetContent } from '../protocol/dataset/types.ts';
import { markdownTable, median, p99 } from './lib/stats.ts';

const CHUNK_SIZE = 4096;

function randomTokens(n: number): Uint8Array[] {
  // Tokens are HMAC outputs, i.e. uniformly random 16-byte strings: random bytes are equivalent.
  const all = crypto.randomBytes(n * 16);
  return Array.from({ length: n }, (_, i) => new Uint8Array(all.buffer, all.byteOffset + i * 16, 16));
}

function contentOf(tokens: Uint8Array[], knownGood: Uint8Array[]): DatasetContent {
  return {
    restricted: tokens.map((token) => ({ token, reason: token[0]! % 3 ? 'stolen' : 'fraud' })),
    knownGood: knownGood.map((token) => ({ token })),
    history: knownGood.slice(0, 100).map((token, i) => ({ token, brand: 'visa', events: [{ at: 1_700_000_000 + i, amount: 1000, currency: 'USD', status: 'success' as const }] })),
    binRules: [{ prefix: '411111', action: 'review', reason: 'test' }],
    prompts: [{ code: 'use_another_card', lang: 'en', message: 'Please use another card.' }],
    routes: [{ brand: 'visa', currency: 'USD', gateway: 'gw-a', successRate: 0.93 }],
  };
}

export interface DeltaBenchResult {
  cards: number;
  snapshotBytes: number;
  snapshotCommitMs: number;
  deltaBytes: number;
  deltaCommitMs: number[];
}

export function measureDeltaApply(cards: number, runs: number): DeltaBenchResult {
  const signer = generateSigningKeyPair();
  const cardKey = new Uint8Array(crypto.randomBytes(32));
  const now = Math.floor(Date.now() / 1000);
  const churn = Math.max(1, Math.floor(cards / 100));
  let tokens = randomTokens(cards);
  const knownGood = randomTokens(1000);
  let content = contentOf(tokens, knownGood);
  const opts = (version: number) => ({ version, createdAt: now - 60, expiresAt: now + 86400, chunkSize: CHUNK_SIZE });
  const snap = buildSnapshot(content, opts(1), signer.privateKey);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-delta-'));
  const core = DeviceCore.open(dir, { provision: { serverSigningPublicKey: signer.publicKey, cardKey }, journalFlushMs: 0 });
  try {
    core.syncBegin(snap.manifestBytes);
    snap.chunks.forEach((c, i) => core.syncChunk(1, i, c));
    let t = performance.now();
    core.syncCommit(1);
    const snapshotCommitMs = performance.now() - t;
    const deltaCommitMs: number[] = [];
    let deltaBytes = 0;
    for (let r = 0; r < runs; r++) {
      const version = r + 2;
      // 1 % churn: the oldest 1 % leave the list, as many new cards arrive
      tokens = tokens.slice(churn).concat(randomTokens(churn));
      const next = contentOf(tokens, knownGood);
      const delta = buildDelta(content, next, { ...opts(version), baseVersion: version - 1 }, signer.privateKey);
      content = next;
      deltaBytes = delta.manifest.size;
      core.syncBegin(delta.manifestBytes);
      delta.chunks.forEach((c, i) => core.syncChunk(version, i, c));
      t = performance.now();
      const res = core.syncCommit(version);
      deltaCommitMs.push(performance.now() - t);
      if (res.activeVersion !== version) throw new Error(`delta ${version} not active`);
    }
    return { cards, snapshotBytes: snap.manifest.size, snapshotCommitMs, deltaBytes, deltaCommitMs };
  } finally {
    core.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string; bound?: string; ratio?: string }[] }> {
  const cards = Number(process.env.BENCH_DELTA_CARDS ?? 1_000_000);
  const runs = Number(process.env.BENCH_DELTA_RUNS ?? 3);
  const r = measureDeltaApply(cards, runs);
  const rows = [
    ['snapshot commit', `${(r.snapshotBytes / 2 ** 20).toFixed(2)} MiB`, r.snapshotCommitMs.toFixed(0), r.snapshotCommitMs.toFixed(0), '1'],
    [
      `1 % delta commit (${runs} runs)`,
      `${(r.deltaBytes / 2 ** 10).toFixed(0)} KiB`,
      median(r.deltaCommitMs).toFixed(0),
      p99(r.deltaCommitMs).toFixed(0),
      String(runs),
    ],
  ];
  const markdown = `${markdownTable(['install at ' + cards.toLocaleString('en') + ' restricted cards', 'payload', 'median ms', 'p99 ms', 'runs'], rows)}

Commit = chunk chain re-check, decode, install (snapshot: into the inactive SQLite slot; delta: in
place in the active slot, only the rows it names), content check and switch in one transaction
(synchronous=FULL). Bound: a delta commit should cost no more than
a snapshot commit (ratio = delta median / snapshot).`;
  return {
    title: 'Device: snapshot vs delta install',
    markdown,
    summary: [
      {
        figure: `device delta commit, 1 % of ${cards.toLocaleString('en')} restricted cards`,
        value: `median ${median(r.deltaCommitMs).toFixed(0)} ms, p99 ${p99(r.deltaCommitMs).toFixed(0)} ms`,
        bound: `snapshot commit ${r.snapshotCommitMs.toFixed(0)} ms`,
        ratio: (median(r.deltaCommitMs) / r.snapshotCommitMs).toFixed(2),
      },
    ],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await run();
  console.log(`# ${r.title}\n\n${r.markdown}`);
}
