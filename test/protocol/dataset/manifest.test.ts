import crypto from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isProtocolError } from '../../../protocol/errors.ts';
import {
  assemble,
  buildDelta,
  buildFirmwareRelease,
  buildSnapshot,
  contentHash,
  datasetState,
  decodeManifest,
  emptyContent,
  encodeManifest,
  generateSigningKeyPair,
  keyIdOf,
  normalizeContent,
  openSignedManifest,
  signManifest,
  signingPrivateKeyFromRaw,
  splitSignedManifest,
  nextChunkHash,
  verifyChunk,
} from '../../../protocol/dataset/index.ts';
import { encodeCbor } from '../../../protocol/cbor.ts';
import { contentArb } from './arbitraries.ts';
import { applyOnto } from '../../../testkit/dataset-model.ts';

const kp = generateSigningKeyPair();
const other = generateSigningKeyPair();
const t = (n: number) => new Uint8Array(16).fill(n);
const opts = { version: 7, createdAt: 1_700_000_000, expiresAt: 1_700_086_400, chunkSize: 64 };

function bigContent() {
  const c = emptyContent();
  for (let i = 1; i < 40; i++) c.restricted.push({ token: t(i), reason: 'stolen' });
  c.prompts.push({ code: 'use_another_card', lang: 'fr', message: 'Utilisez une autre carte.' });
  return c;
}

describe('signed manifests', () => {
  it('build → open → assemble round-trips a chunked snapshot', () => {
    const c = bigContent();
    const r = buildSnapshot(c, opts, kp.privateKey);
    expect(r.chunks.length).toBeGreaterThan(5);
    const m = openSignedManifest(r.manifestBytes, [other.publicKey, kp.publicKey]);
    expect(m).toEqual(r.manifest);
    expect(m.keyId).toBe(keyIdOf(kp.publicKey));
    const a = assemble(m, r.chunks);
    expect(a.kind).toBe('snapshot');
    if (a.kind === 'snapshot') expect(a.content).toEqual(normalizeContent(c));
  });

  it('a single flipped bit anywhere in the signed bytes → SIGNATURE_INVALID (or a typed decode error)', () => {
    const r = buildSnapshot(bigContent(), opts, kp.privateKey);
    const { body } = splitSignedManifest(r.manifestBytes);
    const bodyStart = Buffer.from(r.manifestBytes).indexOf(Buffer.from(body));
    fc.assert(
      fc.property(fc.nat(body.length * 8 - 1), (bit) => {
        const b = new Uint8Array(r.manifestBytes);
        b[bodyStart + (bit >> 3)] ^= 1 << (bit & 7);
        try {
          openSignedManifest(b, [kp.publicKey]);
          expect.unreachable('tampered manifest accepted');
        } catch (e) {
          expect(isProtocolError(e)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
    // a flip inside the manifest body keeps the CBOR structure: the signature is what fails
    const b = new Uint8Array(r.manifestBytes);
    b[b.length - 70] ^= 1; // last bytes of the body (keyId text)
    expect(() => openSignedManifest(b, [kp.publicKey])).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
  });

  it('wrong key → SIGNATURE_INVALID; no trusted keys → SIGNATURE_INVALID', () => {
    const r = buildSnapshot(bigContent(), opts, kp.privateKey);
    expect(() => openSignedManifest(r.manifestBytes, [other.publicKey])).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
    expect(() => openSignedManifest(r.manifestBytes, [])).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
  });

  it('a valid signature whose manifest names another keyId is refused', () => {
    const r = buildSnapshot(bigContent(), opts, kp.privateKey);
    const body = encodeManifest({ ...r.manifest, keyId: keyIdOf(other.publicKey) });
    const sig = crypto.sign(null, Buffer.concat([Buffer.from('precheck/manifest/v1\0'), body]), signingPrivateKeyFromRaw(kp.privateKey));
    const forged = encodeCbor(new Map<number, unknown>([[1, body], [2, new Uint8Array(sig)]]));
    expect(() => openSignedManifest(forged, [kp.publicKey])).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
    expect(() => signManifest({ ...r.manifest, keyId: keyIdOf(other.publicKey) }, kp.privateKey)).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
  });

  it('validates every field', () => {
    const m = buildSnapshot(bigContent(), opts, kp.privateKey).manifest;
    const bad = [
      { ...m, version: 0 },
      { ...m, version: 2 ** 32 },
      { ...m, kind: 'other' },
      { ...m, baseVersion: 3 },
      { ...m, kind: 'delta' },
      { ...m, kind: 'delta', baseVersion: 7 },
      { ...m, expiresAt: m.createdAt },
      { ...m, chunkSize: 10 },
      { ...m, chunkCount: m.chunkCount + 1 },
      { ...m, firstChunkHash: new Uint8Array(31) },
      { ...m, contentHash: new Uint8Array(31) },
      { ...m, keyId: 'XYZ' },
      { ...m, size: 0 },
    ];
    for (const b of bad) {
      try {
        encodeManifest(b as typeof m);
        expect.unreachable(JSON.stringify(Object.keys(b)));
      } catch (e) {
        expect(isProtocolError(e)).toBe(true);
      }
    }
    expect(decodeManifest(encodeManifest(m))).toEqual(m);
  });

  it('tampered chunk → CHUNK_HASH', () => {
    const r = buildSnapshot(bigContent(), opts, kp.privateKey);
    const bad = new Uint8Array(r.chunks[2]);
    bad[5] ^= 0x80;
    const link = nextChunkHash(r.manifest, 1, r.chunks[1])!;
    expect(verifyChunk(r.manifest, 2, r.chunks[2], link)).toEqual(nextChunkHash(r.manifest, 2, r.chunks[2]));
    expect(() => verifyChunk(r.manifest, 2, bad, link)).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
    expect(() => verifyChunk(r.manifest, 2, r.chunks[2].subarray(1), link)).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
    expect(() => verifyChunk(r.manifest, 0, r.chunks[1])).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
    expect(() => verifyChunk(r.manifest, 99, r.chunks[2], link)).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    // swapped chunks break the chain
    const swapped = r.chunks.slice();
    [swapped[1], swapped[2]] = [swapped[2], swapped[1]];
    expect(() => assemble(r.manifest, swapped)).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
    expect(() => assemble(r.manifest, r.chunks.map((c, i) => (i === 2 ? bad : c)))).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
    expect(() => assemble(r.manifest, r.chunks.slice(1))).toThrow(expect.objectContaining({ code: 'SYNC_STATE' }));
  });

  it('deltas: assemble applies to the base and checks the resulting content hash', () => {
    fc.assert(
      fc.property(contentArb, contentArb, (a, b) => {
        const r = buildDelta(a, b, { ...opts, version: 8, baseVersion: 7 }, kp.privateKey);
        const m = openSignedManifest(r.manifestBytes, [kp.publicKey]);
        expect(m.kind).toBe('delta');
        expect(m.baseVersion).toBe(7);
        expect(Buffer.from(m.contentHash).equals(Buffer.from(contentHash(b)))).toBe(true);
        const out = assemble(m, r.chunks);
        if (out.kind !== 'delta') throw new Error('kind');
        expect(applyOnto(m, out.delta, a)).toEqual(normalizeContent(b));
      }),
      { numRuns: 50 },
    );
    // the wrong base gives a content-hash failure, not a silently wrong dataset
    const a = bigContent();
    const b = { ...bigContent(), knownGood: [{ token: t(200) }] };
    const r = buildDelta(a, b, { ...opts, version: 8, baseVersion: 7 }, kp.privateKey);
    const out = assemble(r.manifest, r.chunks);
    if (out.kind !== 'delta') throw new Error('kind');
    expect(() => applyOnto(r.manifest, out.delta, emptyContent())).toThrow(expect.objectContaining({ code: 'CHUNK_HASH' }));
  });

  it('firmware releases', () => {
    const image = encodeCbor(new Map<number, unknown>([[1, 3], [2, 'ok']]));
    const r = buildFirmwareRelease(image, { version: 3, createdAt: 1000, chunkSize: 64 }, kp.privateKey);
    const m = openSignedManifest(r.manifestBytes, [kp.publicKey]);
    expect(m.kind).toBe('firmware');
    const out = assemble(m, r.chunks);
    expect(out.kind === 'firmware' && Buffer.from(out.image).equals(Buffer.from(image))).toBe(true);
  });

  it('the manifest stays small whatever the dataset size', () => {
    const c = emptyContent();
    for (let i = 0; i < 20_000; i++) {
      const tok = new Uint8Array(16);
      new DataView(tok.buffer).setUint32(0, i);
      c.restricted.push({ token: tok, reason: 'stolen' });
    }
    const r = buildSnapshot(c, { ...opts, chunkSize: 4096 }, kp.privateKey);
    expect(r.chunks.length).toBeGreaterThan(70);
    expect(r.manifestBytes.length).toBeLessThan(300);
    expect(Math.max(...r.chunks.map((x) => x.length))).toBe(4096);
    expect(assemble(openSignedManifest(r.manifestBytes, [kp.publicKey]), r.chunks).kind).toBe('snapshot');
  });

  it('freshness', () => {
    expect(datasetState(null, 5)).toBe('none');
    expect(datasetState({ version: 1, createdAt: 0, expiresAt: 10 }, 9)).toBe('fresh');
    expect(datasetState({ version: 1, createdAt: 0, expiresAt: 10 }, 10)).toBe('stale');
  });

  it('signed-manifest decoder: random and mutated bytes give typed errors only', () => {
    const r = buildSnapshot(bigContent(), opts, kp.privateKey);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (rand, pos, val) => {
        const mutated = new Uint8Array(r.manifestBytes);
        mutated[pos % mutated.length] = val;
        for (const input of [rand, mutated, mutated.subarray(0, pos % mutated.length)]) {
          try {
            openSignedManifest(input, [kp.publicKey]);
          } catch (e) {
            expect(isProtocolError(e)).toBe(true);
          }
          try {
            decodeManifest(input);
          } catch (e) {
            expect(isProtocolError(e)).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('rules version in dataset manifests (key 13)', () => {
  it('travels signed in snapshots and deltas; manifests from before it decode without it', () => {
    const snap = buildSnapshot(bigContent(), { ...opts, rulesVersion: 3 }, kp.privateKey);
    expect(openSignedManifest(snap.manifestBytes, [kp.publicKey]).rulesVersion).toBe(3);
    const delta = buildDelta(emptyContent(), bigContent(), { ...opts, version: 8, baseVersion: 7, rulesVersion: 3 }, kp.privateKey);
    expect(openSignedManifest(delta.manifestBytes, [kp.publicKey]).rulesVersion).toBe(3);
    const older = buildSnapshot(bigContent(), opts, kp.privateKey);
    const m = openSignedManifest(older.manifestBytes, [kp.publicKey]);
    expect('rulesVersion' in m).toBe(false);
    expect(decodeManifest(encodeManifest(m))).toEqual(m);
  });
  it('is refused on firmware manifests and out of range', () => {
    const fw = buildFirmwareRelease(new Uint8Array(100).fill(1), { version: 2, createdAt: 1_700_000_000 }, kp.privateKey);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isProtocolError(e) ? e.code : 'other';
      }
      return 'none';
    };
    expect(code(() => encodeManifest({ ...fw.manifest, rulesVersion: 3 }))).toBe('INVALID_FIELD');
    const snap = buildSnapshot(bigContent(), opts, kp.privateKey);
    expect(code(() => encodeManifest({ ...snap.manifest, rulesVersion: 0 }))).toBe('INVALID_FIELD');
    expect(code(() => encodeManifest({ ...snap.manifest, rulesVersion: 0x10000 }))).toBe('INVALID_FIELD');
  });
});
