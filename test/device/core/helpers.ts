// Shared fixtures for the device core tests: temp data dirs, a signing key, test cards, datasets.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDelta, buildSnapshot, generateSigningKeyPair, type BuiltRelease } from '../../../protocol/dataset/index.ts';
import { cardToken } from '../../../protocol/dataset/token.ts';
import type { DatasetContent } from '../../../protocol/dataset/types.ts';
import { afterEach, beforeEach } from 'vitest';
import { DeviceCore, type DeviceCoreOptions } from '../../../device/core/device-core.ts';

export const NOW = 1_760_000_000;
export const DAY = 86400;
export const CARD_KEY = new Uint8Array(32).fill(0x5a);
export const SIGNER = generateSigningKeyPair();
export const OTHER_SIGNER = generateSigningKeyPair();

export const PANS = {
  restricted: '4111111111111111',
  knownGood: '5555555555554444',
  hard: '4012888888881881',
  soft51: '4000056655665556',
  intl57: '5105105105105100',
  unknown: '4242424242424242',
  binDeclined: '6011111111111117',
  goodUnionPay: '6200000000000005',
} as const;

export const tok = (pan: string) => cardToken(CARD_KEY, pan);

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-core-'));
}

export function baseContent(): DatasetContent {
  return {
    restricted: [{ token: tok(PANS.restricted), reason: 'stolen' }],
    knownGood: [{ token: tok(PANS.knownGood) }, { token: tok(PANS.goodUnionPay) }],
    history: [
      { token: tok(PANS.hard), brand: 'visa', events: [{ at: NOW - 5 * DAY, amount: 1200, currency: 'USD', status: 'failure', code: '43' }] },
      { token: tok(PANS.soft51), brand: 'visa', events: [{ at: NOW - DAY, amount: 90000, currency: 'USD', status: 'failure', code: '51', type: 'soft' }] },
      { token: tok(PANS.intl57), brand: 'mastercard', events: [{ at: NOW - 2 * DAY, amount: 5000, currency: 'EUR', status: 'failure', code: '57' }] },
    ],
    binRules: [{ prefix: '601111', action: 'decline', reason: 'test_range' }],
    prompts: [{ code: 'try_smaller_amount', lang: 'fr', message: 'Essayez un montant plus petit.' }],
    routes: [
      { brand: 'mastercard', currency: 'USD', gateway: 'gw-east', successRate: 0.91 },
      { brand: 'mastercard', currency: 'USD', gateway: 'gw-west', successRate: 0.84 },
      { brand: 'visa', currency: 'USD', gateway: 'gw-west', successRate: 0.95 },
    ],
  };
}

export function snapshot(content: DatasetContent, version: number, opts: { createdAt?: number; expiresAt?: number; chunkSize?: number; key?: Uint8Array } = {}): BuiltRelease {
  return buildSnapshot(
    content,
    { version, createdAt: opts.createdAt ?? NOW - 60, expiresAt: opts.expiresAt ?? NOW + 7 * DAY, chunkSize: opts.chunkSize ?? 128 },
    opts.key ?? SIGNER.privateKey,
  );
}

export function delta(from: DatasetContent, to: DatasetContent, baseVersion: number, version: number, chunkSize = 128): BuiltRelease {
  return buildDelta(from, to, { version, baseVersion, createdAt: NOW - 30, expiresAt: NOW + 7 * DAY, chunkSize }, SIGNER.privateKey);
}

/** `clock.now` is in Unix seconds, like the datasets the tests build; the core's clock reads ms. */
export function openCore(dir: string, opts: DeviceCoreOptions & { clock?: { now: number } } = {}): DeviceCore {
  const clock = opts.clock ?? { now: NOW };
  return DeviceCore.open(dir, {
    now: () => clock.now * 1000,
    provision: { serverSigningPublicKey: SIGNER.publicKey, cardKey: CARD_KEY },
    journalFlushMs: 0,
    ...opts,
  });
}

/** Send a whole release through begin/chunk/commit. */
export function syncAll(core: DeviceCore, r: BuiltRelease): { activeVersion: number } {
  const st = core.syncBegin(r.manifestBytes);
  for (let i = st.nextChunk; i < r.chunks.length; i++) core.syncChunk(r.manifest.version, i, r.chunks[i]);
  return core.syncCommit(r.manifest.version);
}

export function rmrf(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface CoreFixture {
  dir: string;
  /** the open core; a test may close it and open another on the same dir */
  core: DeviceCore;
  /** the core's clock in Unix seconds (openCore gives the core ms), back at NOW before each test */
  clock: { now: number };
}

/** Each test of the calling describe gets a core on a fresh temp dir, closed and removed after it. */
export function coreEachTest(opts: DeviceCoreOptions = {}): CoreFixture {
  const t: CoreFixture = { dir: '', core: undefined as unknown as DeviceCore, clock: { now: NOW } };
  beforeEach(() => {
    t.dir = tempDir();
    t.clock.now = NOW;
    t.core = openCore(t.dir, { ...opts, clock: t.clock });
  });
  afterEach(() => {
    t.core.close();
    rmrf(t.dir);
  });
  return t;
}
