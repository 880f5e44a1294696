// A realistic device dataset for the verification benchmarks, and the cards to ask about.
//
// Content (tokens only; the card numbers exist in memory, never on disk): 10^5 restricted cards,
// 2000 known-good cards, 3000 cards with outcome history (each 1–4 older successes, then a soft
// decline "51" an hour ago → review, or a hard decline "05"/"41" → decline), gateway routes.
// Signed like the network service signs (Ed25519), loaded into a provisioned device data dir
// through DeviceCore's SYNC path (begin → every 4096-byte chunk → commit), which is what the
// device does for SYNC messages; pushing 1.7 MB over a paced 115200-baud bus would take minutes.

import crypto from 'node:crypto';
import { DeviceCore } from '../../device/core/device-core.ts';
import { buildSnapshot, cardToken, generateSigningKeyPair, type DatasetContent, type HistoryEntry } from '../../protocol/dataset/index.ts';
import { panFor } from '../../testkit/cards.ts';
import type { FinalDecision } from '../../rules/decide.ts';

export interface DatasetSizes {
  restricted: number;
  knownGood: number;
  history: number;
}

export const DEFAULT_SIZES: DatasetSizes = { restricted: 100_000, knownGood: 2000, history: 3000 };

export type CardClass = 'restricted' | 'knownGood' | 'softHistory' | 'hardHistory';

/** What the device must answer for each class (checked on every sample). */
export const EXPECTED: Record<CardClass, FinalDecision> = {
  restricted: 'decline',
  knownGood: 'approve',
  softHistory: 'review',
  hardHistory: 'decline',
};

export interface BenchCard {
  cls: CardClass;
  /** In memory only. */
  pan: string;
}

export interface LoadedDataset {
  dataDir: string;
  sizes: DatasetSizes;
  payloadBytes: number;
  chunks: number;
  buildMs: number;
  loadMs: number;
  /** Cards to verify, cycling restricted / known-good / soft-history / hard-history. */
  cards(n: number, seed?: number): BenchCard[];
}

export { panFor };

/** Provision `dataDir` as a device and install the dataset in it. */
export function buildAndLoadDataset(dataDir: string, sizes: DatasetSizes = DEFAULT_SIZES): LoadedDataset {
  const signer = generateSigningKeyPair();
  const cardKey = new Uint8Array(crypto.randomBytes(32));
  const now = Math.floor(Date.now() / 1000);
  const knownBase = sizes.restricted;
  const historyBase = knownBase + sizes.knownGood;

  const t0 = performance.now();
  const content: DatasetContent = { restricted: [], knownGood: [], history: [], binRules: [], prompts: [], routes: [] };
  const reasons = ['stolen', 'lost', 'fraud', 'chargeback'];
  for (let i = 0; i < sizes.restricted; i++) content.restricted.push({ token: cardToken(cardKey, panFor(i)), reason: reasons[i % reasons.length] });
  for (let i = 0; i < sizes.knownGood; i++) content.knownGood.push({ token: cardToken(cardKey, panFor(knownBase + i)) });
  for (let i = 0; i < sizes.history; i++) {
    const soft = i % 2 === 0;
    const events: HistoryEntry['events'] = [];
    const successes = 1 + (i % 4);
    for (let s = 0; s < successes; s++) {
      events.push({ at: now - 86400 * (40 + 7 * s), amount: 1500 + 100 * s, currency: 'EUR', status: 'success', gateway: s % 2 ? 'gw-a' : 'gw-b' });
    }
    events.push(
      soft
        ? // 51 for 20.00 EUR: the benches' orders are 25.00 EUR, at least the declined amount, so
          // the rules answer review (a smaller order than the declined one is not reviewed).
          { at: now - 3600, amount: 2000, currency: 'EUR', status: 'failure', code: '51', type: 'soft', gateway: 'gw-a' }
        : { at: now - 7200, amount: 4000, currency: 'EUR', status: 'failure', code: i % 4 === 1 ? '05' : '41', type: 'hard', gateway: 'gw-b' },
    );
    content.history.push({ token: cardToken(cardKey, panFor(historyBase + i)), brand: 'visa', events });
  }
  content.routes.push(
    { brand: 'visa', currency: 'EUR', gateway: 'gw-a', successRate: 0.94 },
    { brand: 'visa', currency: 'EUR', gateway: 'gw-b', successRate: 0.91 },
    { brand: 'mastercard', currency: 'EUR', gateway: 'gw-b', successRate: 0.92 },
  );
  const built = buildSnapshot(content, { version: 1, createdAt: now - 60, expiresAt: now + 7 * 86400, chunkSize: 4096 }, signer.privateKey);
  const buildMs = performance.now() - t0;

  const t1 = performance.now();
  const core = DeviceCore.open(dataDir, { provision: { serverSigningPublicKey: signer.publicKey, cardKey }, merchantCountry: 'DE' });
  try {
    let st = core.syncBegin(built.manifestBytes);
    while (st.nextChunk < st.totalChunks) st = core.syncChunk(st.version, st.nextChunk, built.chunks[st.nextChunk]);
    core.syncCommit(1);
  } finally {
    core.close();
  }
  const loadMs = performance.now() - t1;

  return {
    dataDir,
    sizes,
    payloadBytes: built.manifest.size,
    chunks: built.chunks.length,
    buildMs,
    loadMs,
    cards(n, seed = 1) {
      // Small deterministic LCG: the same sample for every link, so rows are comparable.
      let x = seed >>> 0 || 1;
      const rnd = (m: number): number => {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        return x % m;
      };
      const out: BenchCard[] = [];
      for (let i = 0; i < n; i++) {
        switch (i % 4) {
          case 0:
            out.push({ cls: 'restricted', pan: panFor(rnd(sizes.restricted)) });
            break;
          case 1:
            out.push({ cls: 'knownGood', pan: panFor(knownBase + rnd(sizes.knownGood)) });
            break;
          case 2:
            out.push({ cls: 'softHistory', pan: panFor(historyBase + 2 * rnd(Math.ceil(sizes.history / 2))) });
            break;
          default:
            out.push({ cls: 'hardHistory', pan: panFor(historyBase + 1 + 2 * rnd(Math.floor(sizes.history / 2))) });
        }
      }
      return out;
    },
  };
}
