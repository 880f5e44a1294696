// Device core benchmark: local verifications per second and per-call latency (median, p99)
// inside DeviceCore, with 10^4, 10^5 and 10^6 restricted cards, plus the time to load each
// dataset (server-side build, chunk transfer into the device store, commit = decode + install
// into the inactive slot + read-back hash check + switch).
//
//   node --import tsx bench/device-core.bench.ts            (all sizes)
//   BENCH_DEVICE_SIZES=10000,100000 node --import tsx bench/device-core.bench.ts
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DeviceCore } from '../device/core/device-core.ts';
import { databasePath } from '../device/store/database.ts';
import { buildFuseFilter, buildSnapshot, generateSigningKeyPair } from '../protocol/dataset/index.ts';
import { cardToken } from '../protocol/dataset/token.ts';
import type { DatasetContent } from '../protocol/dataset/types.ts';
import { formatSi, markdownTable, median, p99 } from './lib/stats.ts';
import { panFor } from '../testkit/cards.ts';

const CHUNK_SIZE = 4096; // one protocol message (CHUNK_MAX in protocol/messages)
const VERIFY_CALLS = 20_000;

type Mode = 'exact' | 'filter';

interface SizeResult {
  n: number;
  mode: Mode;
  payloadBytes: number;
  chunks: number;
  buildMs: number;
  transferMs: number;
  commitMs: number;
  dbBytes: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  hitRate: number;
}

function measure(n: number, mode: Mode): SizeResult {
  const signer = generateSigningKeyPair();
  const cardKey = new Uint8Array(crypto.randomBytes(32));
  const now = Math.floor(Date.now() / 1000);
  let content: DatasetContent | null = { restricted: [], knownGood: [], history: [], binRules: [], prompts: [], routes: [] };
  let restricted: Uint8Array[] | null = Array.from({ length: n }, (_, i) => cardToken(cardKey, panFor(i)));
  const c = content;
  if (mode === 'exact') restricted.forEach((token, i) => c.restricted.push({ token, reason: i % 3 ? 'stolen' : 'fraud' }));
  let t = performance.now();
  if (mode === 'filter') content.restrictedFilter = buildFuseFilter(restricted);
  for (let i = 0; i < 1000; i++) content.knownGood.push({ token: cardToken(cardKey, panFor(n + i)) });
  content.routes.push({ brand: 'visa', currency: 'USD', gateway: 'gw-a', successRate: 0.93 });

  let built: ReturnType<typeof buildSnapshot> | null = buildSnapshot(content, { version: 1, createdAt: now - 60, expiresAt: now + 86400, chunkSize: CHUNK_SIZE }, signer.privateKey);
  const buildMs = performance.now() - t;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-bench-core-'));
  const core = DeviceCore.open(dir, { provision: { serverSigningPublicKey: signer.publicKey, cardKey }, journalFlushMs: 0 });
  try {
    t = performance.now();
    core.syncBegin(built.manifestBytes);
    built.chunks.forEach((c, i) => core.syncChunk(1, i, c!));
    const transferMs = performance.now() - t;
    t = performance.now();
    core.syncCommit(1);
    const commitMs = performance.now() - t;
    const payloadBytes = built.manifest.size;
    const chunks = built.chunks.length;
    // drop the server-side copies so their garbage does not land in the latency figures
    content = null;
    restricted = null;
    built = null;

    // Half the calls hit the restricted list, a few known-good, the rest unknown cards.
    const pans = Array.from({ length: VERIFY_CALLS }, (_, i) => (i % 2 ? panFor((i * 7919) % n) : panFor(n + 2000 + i)));
    for (let i = 0; i < 2000; i++) core.verify({ pan: pans[i], amount: 1000, currency: 'USD' }); // warm-up
    const lat: number[] = new Array(VERIFY_CALLS);
    let hits = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < VERIFY_CALLS; i++) {
      const s = process.hrtime.bigint();
      const r = core.verify({ pan: pans[i], amount: 1000, currency: 'USD' });
      lat[i] = Number(process.hrtime.bigint() - s) / 1000;
      if (r.reason === 'restricted' || r.reason === 'possibly_restricted') hits++;
    }
    const totalS = Number(process.hrtime.bigint() - t0) / 1e9;
    core.close();
    const dbBytes = ['', '-wal'].reduce((a, s) => a + (fs.existsSync(databasePath(dir) + s) ? fs.statSync(databasePath(dir) + s).size : 0), 0);
    return {
      n,
      mode,
      payloadBytes,
      chunks,
      buildMs,
      transferMs,
      commitMs,
      dbBytes,
      opsPerSec: VERIFY_CALLS / totalS,
      p50us: median(lat),
      p99us: p99(lat),
      hitRate: hits / VERIFY_CALLS,
    };
  } finally {
    core.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The obvious floor: one HMAC-SHA-256 (the tokenisation every verification must do). */
function hmacFloorUs(): number {
  const key = crypto.randomBytes(32);
  const lat: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const s = process.hrtime.bigint();
    cardToken(key, panFor(i));
    lat.push(Number(process.hrtime.bigint() - s) / 1000);
  }
  return median(lat);
}

export async function run(): Promise<{ title: string; markdown: string; summary: { figure: string; value: string; bound?: string; ratio?: string }[] }> {
  const sizes = (process.env.BENCH_DEVICE_SIZES ?? '10000,100000,1000000').split(',').map(Number);
  const results = [...sizes.map((n) => measure(n, 'exact')), measure(sizes[sizes.length - 1], 'filter')];
  const floor = hmacFloorUs();
  const rows = results.map((r) => [
    `${formatSi(r.n)} ${r.mode === 'filter' ? '(filter)' : '(exact)'}`,
    `${(r.payloadBytes / 2 ** 20).toFixed(2)} MiB / ${r.chunks}`,
    r.buildMs.toFixed(0),
    r.transferMs.toFixed(0),
    r.commitMs.toFixed(0),
    `${(r.dbBytes / 2 ** 20).toFixed(1)} MiB`,
    formatSi(r.opsPerSec),
    r.p50us.toFixed(1),
    r.p99us.toFixed(1),
    (r.p50us / floor).toFixed(1),
    `${(r.hitRate * 100).toFixed(2)}%`,
  ]);
  const markdown = `${markdownTable(
    [
      'restricted cards',
      'payload / chunks',
      'build ms',
      'transfer ms',
      'commit ms',
      'db size',
      'verify/s',
      'p50 µs',
      'p99 µs',
      'p50 / HMAC',
      'restricted hits',
    ],
    rows,
  )}

${VERIFY_CALLS} verifications per size (half restricted hits, half unknown cards), each timed alone with
the monotonic clock; one HMAC-SHA-256 tokenisation (the floor every verification pays) takes
${floor.toFixed(2)} µs median. "(filter)": the same restricted cards held only as a binary fuse
filter (~9 bits per card) instead of the exact token list; a hit escalates (\`possibly_restricted\`),
so the hit rate is 50% plus ~0.4% false positives of the other half. Transfer = SYNC_BEGIN + every ${CHUNK_SIZE}-byte chunk verified and
stored durably (synchronous=FULL, one fsync per chunk); commit = chunk chain re-check, decode,
install into the inactive slot, row-count check and switch, in one transaction. Figures from a
2-core machine shared with other jobs: the p99 and verify/s include scheduler noise.`;
  const summary = results.map((r) => ({
    figure: `device core verify, ${formatSi(r.n)} restricted (${r.mode}), ${(r.payloadBytes / 2 ** 20).toFixed(2)} MiB dataset`,
    value: `${formatSi(r.opsPerSec)}/s, p50 ${r.p50us.toFixed(1)} µs, p99 ${r.p99us.toFixed(1)} µs`,
    bound: `HMAC floor ${floor.toFixed(2)} µs`,
    ratio: `${(r.p50us / floor).toFixed(1)}×`,
  }));
  return { title: 'Device core: local verification and dataset load', markdown, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await run();
  console.log(`# ${r.title}\n\n${r.markdown}`);
}
