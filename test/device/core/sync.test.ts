import fc from 'fast-check';
import { isProtocolError } from '../../../protocol/errors.ts';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyContent } from '../../../protocol/dataset/types.ts';
import { buildFuseFilter } from '../../../protocol/dataset/fuse-filter.ts';
import type { DatasetContent } from '../../../protocol/dataset/types.ts';
import { DAY, NOW, OTHER_SIGNER, PANS, baseContent, delta, openCore, snapshot, syncAll, tok, coreEachTest, type CoreFixture } from './helpers.ts';
import { run } from '../../../testkit/process.ts';

const order = { amount: 2500, currency: 'USD' };

/** Commit `version` in a child that kills itself (SIGKILL) inside the commit; then reopen the core. */
async function commitAndDie(t: CoreFixture, version: number): Promise<void> {
  t.core.close();
  const script = path.join(import.meta.dirname, 'fixtures', 'commit-and-die.ts');
  const r = await run(process.execPath, ['--import', 'tsx', script, t.dir, String(NOW), String(version)], { timeoutMs: 30_000 });
  expect(r.signal, r.stderr).toBe('SIGKILL');
  t.core = openCore(t.dir, { clock: t.clock });
}

function v2Content(): DatasetContent {
  const c = baseContent();
  c.restricted.push({ token: tok(PANS.unknown), reason: 'fraud' });
  c.knownGood = c.knownGood.filter((k) => Buffer.compare(k.token, tok(PANS.knownGood)) !== 0);
  c.routes[0] = { ...c.routes[0], successRate: 0.5 };
  return c;
}

describe('dataset sync receiver', () => {
  const t = coreEachTest();

  it('snapshot then delta', () => {
    const s1 = snapshot(baseContent(), 1);
    expect(s1.chunks.length).toBeGreaterThan(2);
    expect(syncAll(t.core, s1)).toEqual({ activeVersion: 1 });
    expect(t.core.verify({ pan: PANS.unknown, ...order }).decision).toBe('escalate');
    const d2 = delta(baseContent(), v2Content(), 1, 2);
    expect(d2.manifest.kind).toBe('delta');
    expect(syncAll(t.core, d2)).toEqual({ activeVersion: 2 });
    expect(t.core.status()).toMatchObject({ datasetVersion: 2, datasetState: 'fresh', syncVersion: 0 });
    expect(t.core.verify({ pan: PANS.unknown, ...order })).toMatchObject({ decision: 'decline', reason: 'restricted', datasetVersion: 2 });
    expect(t.core.verify({ pan: PANS.knownGood, ...order })).toMatchObject({ decision: 'escalate', gateway: 'gw-west' });
  });

  it('restricted filter: a hit escalates, deltas replace or remove the filter', () => {
    const withFilter = { ...baseContent(), restrictedFilter: buildFuseFilter([tok(PANS.unknown), tok(PANS.knownGood)]) };
    syncAll(t.core, snapshot(withFilter, 1));
    expect(t.core.verify({ pan: PANS.unknown, ...order })).toMatchObject({ decision: 'escalate', reason: 'possibly_restricted' });
    // a filter hit on a known-good card blocks the local approval (it may be a newly restricted card)
    expect(t.core.verify({ pan: PANS.knownGood, ...order })).toMatchObject({ decision: 'escalate', reason: 'possibly_restricted' });
    // exact facts still decide
    expect(t.core.verify({ pan: PANS.restricted, ...order }).reason).toBe('restricted');
    // delta: the filter now holds only PANS.unknown
    const v2 = { ...baseContent(), restrictedFilter: buildFuseFilter([tok(PANS.unknown)]) };
    syncAll(t.core, delta(withFilter, v2, 1, 2));
    expect(t.core.verify({ pan: PANS.knownGood, ...order }).decision).toBe('approve');
    expect(t.core.verify({ pan: PANS.unknown, ...order }).reason).toBe('possibly_restricted');
    // delta: filter removed
    syncAll(t.core, delta(v2, baseContent(), 2, 3));
    expect(t.core.verify({ pan: PANS.unknown, ...order }).reason).toBe('unknown_card');
  });

  it('an interrupted sync resumes after close/open at the next chunk', () => {
    const s1 = snapshot(baseContent(), 1, { chunkSize: 64 });
    const n = s1.chunks.length;
    expect(n).toBeGreaterThan(4);
    t.core.syncBegin(s1.manifestBytes);
    for (let i = 0; i < 3; i++) t.core.syncChunk(1, i, s1.chunks[i]);
    t.core.close();
    t.core = openCore(t.dir, { clock: t.clock });
    expect(t.core.status()).toMatchObject({ syncVersion: 1, syncNextChunk: 3, syncTotalChunks: n });
    // SYNC_BEGIN with the same manifest resumes instead of restarting
    expect(t.core.syncBegin(s1.manifestBytes)).toEqual({ version: 1, nextChunk: 3, totalChunks: n });
    // a retransmitted chunk is acknowledged, a skipped one refused
    expect(t.core.syncChunk(1, 2, s1.chunks[2]).nextChunk).toBe(3);
    expect(() => t.core.syncChunk(1, 4, s1.chunks[4])).toThrow(expect.objectContaining({ code: 'SYNC_STATE' }));
    expect(() => t.core.syncCommit(1)).toThrow(expect.objectContaining({ code: 'SYNC_STATE' }));
    for (let i = 3; i < n; i++) t.core.syncChunk(1, i, s1.chunks[i]);
    expect(t.core.syncCommit(1)).toEqual({ activeVersion: 1 });
  });

  it('forged, older, expired, wrong-base and tampered datasets are refused; the active one stays', () => {
    syncAll(t.core, snapshot(baseContent(), 5));
    const before = t.core.verify({ pan: PANS.knownGood, ...order });
    expect(before.decision).toBe('approve');

    expect(() => t.core.syncBegin(snapshot(emptyContent(), 6, { key: OTHER_SIGNER.privateKey }).manifestBytes)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    );
    expect(() => t.core.syncBegin(snapshot(emptyContent(), 5).manifestBytes)).toThrow(expect.objectContaining({ code: 'DATASET_OLDER' }));
    expect(() => t.core.syncBegin(snapshot(emptyContent(), 4).manifestBytes)).toThrow(expect.objectContaining({ code: 'DATASET_OLDER' }));
    expect(() => t.core.syncBegin(snapshot(emptyContent(), 6, { createdAt: NOW - 2 * DAY, expiresAt: NOW - DAY }).manifestBytes)).toThrow(
      expect.objectContaining({ code: 'DATASET_EXPIRED' }),
    );
    expect(() => t.core.syncBegin(delta(baseContent(), v2Content(), 4, 6).manifestBytes)).toThrow(expect.objectContaining({ code: 'SYNC_STATE' }));
    const garbage = new Uint8Array([0xa2, 0x01, 0x41, 0x00, 0x02, 0x40]);
    expect(() => t.core.syncBegin(garbage)).toThrow(expect.objectContaining({ code: 'MALFORMED' }));

    const s6 = snapshot(emptyContent(), 6);
    t.core.syncBegin(s6.manifestBytes);
    const bad = new Uint8Array(s6.chunks[0]);
    bad[0] ^= 1;
    expect(() => t.core.syncChunk(6, 0, bad)).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
    expect(t.core.syncState().nextChunk).toBe(0);
    expect(() => t.core.syncChunk(7, 0, s6.chunks[0])).toThrow(expect.objectContaining({ code: 'SYNC_STATE' }));

    expect(t.core.status()).toMatchObject({ datasetVersion: 5 });
    expect(t.core.verify({ pan: PANS.knownGood, ...order })).toMatchObject({ decision: 'approve', datasetVersion: 5 });
    t.core.syncAbort(6);
    expect(t.core.syncState()).toEqual({ version: 0, nextChunk: 0, totalChunks: 0 });
  });

  it('a delta whose result does not match its content hash is refused at commit', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    // signed correctly, but computed against a different "version 1" than the device holds
    const otherBase = { ...baseContent(), knownGood: [] };
    const d2 = delta(otherBase, v2Content(), 1, 2);
    t.core.syncBegin(d2.manifestBytes);
    d2.chunks.forEach((c, i) => t.core.syncChunk(2, i, c));
    expect(() => t.core.syncCommit(2)).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
    expect(t.core.status()).toMatchObject({ datasetVersion: 1, syncVersion: 0 });
    expect(t.core.verify({ pan: PANS.knownGood, ...order })).toMatchObject({ decision: 'approve', datasetVersion: 1 });
  });

  it('random and mutated input into begin/chunk gives typed errors only and changes nothing', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    const s2 = snapshot(v2Content(), 2);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (rand, pos, val) => {
        const mutated = new Uint8Array(s2.manifestBytes);
        mutated[pos % mutated.length] ^= val || 1;
        for (const input of [rand, mutated]) {
          try {
            t.core.syncBegin(input);
          } catch (e) {
            expect(isProtocolError(e)).toBe(true);
          }
          try {
            t.core.fwBegin(input);
          } catch (e) {
            expect(isProtocolError(e)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
    t.core.syncAbort(0);
    t.core.syncBegin(s2.manifestBytes);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: -1, max: 40 }), (data, index) => {
        try {
          t.core.syncChunk(2, index, data);
        } catch (e) {
          expect(isProtocolError(e)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
    expect(t.core.syncState().nextChunk).toBe(0);
    expect(t.core.status().datasetVersion).toBe(1);
  });

  it('a dataset that expires between begin and commit is refused at commit', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    const s2 = snapshot(v2Content(), 2, { expiresAt: NOW + 100 });
    t.core.syncBegin(s2.manifestBytes);
    s2.chunks.forEach((c, i) => t.core.syncChunk(2, i, c));
    t.clock.now = NOW + 101;
    expect(() => t.core.syncCommit(2)).toThrow(expect.objectContaining({ code: 'DATASET_EXPIRED' }));
    expect(t.core.status()).toMatchObject({ datasetVersion: 1, syncVersion: 0 });
  });

  it('a failure inside the commit transaction leaves the old dataset active', () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    t.core.close();
    let fail = true;
    t.core = openCore(t.dir, {
      clock: t.clock,
      hooks: {
        beforeDatasetSwitch: () => {
          if (fail) throw new Error('power cut (simulated)');
        },
      },
    });
    const s2 = snapshot(v2Content(), 2);
    t.core.syncBegin(s2.manifestBytes);
    s2.chunks.forEach((c, i) => t.core.syncChunk(2, i, c));
    expect(() => t.core.syncCommit(2)).toThrow('power cut');
    expect(t.core.status()).toMatchObject({ datasetVersion: 1, syncVersion: 2 });
    expect(t.core.verify({ pan: PANS.knownGood, ...order })).toMatchObject({ decision: 'approve', datasetVersion: 1 });
    expect(t.core.verify({ pan: PANS.unknown, ...order }).reason).toBe('unknown_card');
    // the transfer survived (not a data problem): commit again once the fault is gone
    fail = false;
    expect(t.core.syncCommit(2)).toEqual({ activeVersion: 2 });
    expect(t.core.verify({ pan: PANS.unknown, ...order }).reason).toBe('restricted');
  });

  it('a process killed in the middle of a commit leaves the old dataset active', async () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    const s2 = snapshot(v2Content(), 2);
    t.core.syncBegin(s2.manifestBytes);
    s2.chunks.forEach((c, i) => t.core.syncChunk(2, i, c));
    await commitAndDie(t, 2);

    expect(t.core.status()).toMatchObject({ datasetVersion: 1, syncVersion: 2 });
    expect(t.core.verify({ pan: PANS.knownGood, ...order })).toMatchObject({ decision: 'approve', datasetVersion: 1 });
    expect(t.core.syncCommit(2)).toEqual({ activeVersion: 2 });
  });

  it('a process killed in the middle of a delta commit (delta applied in place, hash checked) leaves the old dataset active', async () => {
    syncAll(t.core, snapshot(baseContent(), 1));
    const d2 = delta(baseContent(), v2Content(), 1, 2);
    t.core.syncBegin(d2.manifestBytes);
    d2.chunks.forEach((c, i) => t.core.syncChunk(2, i, c));
    await commitAndDie(t, 2);

    expect(t.core.status()).toMatchObject({ datasetVersion: 1, syncVersion: 2 });
    expect(t.core.verify({ pan: PANS.unknown, ...order }).reason).toBe('unknown_card');
    expect(t.core.syncCommit(2)).toEqual({ activeVersion: 2 });
    expect(t.core.verify({ pan: PANS.unknown, ...order }).reason).toBe('restricted');
  });
});
