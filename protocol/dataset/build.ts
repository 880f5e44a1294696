// Publishing (server side) and assembly (device side) of snapshots, deltas and firmware releases.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';
import { contentHash, decodeContent, decodeDelta, encodeContent, encodeDelta, sha256 } from './codec.ts';
import { joinChunks, makeChunks } from './chunks.ts';
import { diffContent } from './delta.ts';
import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, type SigningKey, keyIdOf, publicKeyOfSigningKey, signManifest, validateManifest } from './manifest.ts';
import type { DatasetContent, DatasetDelta, DatasetManifest, ManifestKind } from './types.ts';

export interface BuildOptions {
  version: number;
  /** unix seconds */
  createdAt: number;
  expiresAt: number;
  /** bytes per chunk including the 32-byte link to the next one; default 4096 (one protocol message) */
  chunkSize?: number;
  /** the builder's decision rules version (rules/ RULES_VERSION), carried in the manifest */
  rulesVersion?: number;
}
export interface DeltaBuildOptions extends BuildOptions {
  baseVersion: number;
}
export interface FirmwareBuildOptions {
  version: number;
  createdAt: number;
  /** default createdAt + 10 years: firmware does not go stale, the field only bounds replay */
  expiresAt?: number;
  chunkSize?: number;
}

export interface BuiltRelease {
  /** signed manifest (what SYNC_BEGIN / FW_BEGIN carries) */
  manifestBytes: Uint8Array;
  manifest: DatasetManifest;
  chunks: Uint8Array[];
}

function pickChunkSize(requested?: number): number {
  const cs = requested ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(cs) || cs < MIN_CHUNK_SIZE || cs > MAX_CHUNK_SIZE) {
    throw new ProtocolError('INVALID_FIELD', `chunkSize must be ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`, 'chunkSize');
  }
  return cs;
}

function release(
  kind: ManifestKind,
  payload: Uint8Array,
  hash: Uint8Array,
  opts: { version: number; baseVersion?: number; createdAt: number; expiresAt: number; chunkSize?: number; rulesVersion?: number },
  key: SigningKey,
): BuiltRelease {
  const chunkSize = pickChunkSize(opts.chunkSize);
  const { chunks, firstChunkHash } = makeChunks(payload, chunkSize);
  const m: DatasetManifest = {
    format: 1,
    kind,
    version: opts.version,
    createdAt: opts.createdAt,
    expiresAt: opts.expiresAt,
    size: payload.length,
    chunkSize,
    chunkCount: chunks.length,
    firstChunkHash,
    contentHash: hash,
    keyId: keyIdOf(publicKeyOfSigningKey(key)),
  };
  if (kind === 'delta') m.baseVersion = opts.baseVersion;
  if (opts.rulesVersion !== undefined) m.rulesVersion = opts.rulesVersion;
  const manifest = validateManifest(m);
  return { manifestBytes: signManifest(manifest, key), manifest, chunks };
}

export function buildSnapshot(content: DatasetContent, opts: BuildOptions, signingKey: SigningKey): BuiltRelease {
  const payload = encodeContent(content);
  return release('snapshot', payload, sha256(payload), opts, signingKey);
}

/** A snapshot of content already in its canonical encoding (dataset-index.ts builds it incrementally). */
export function buildSnapshotFromPayload(payload: Uint8Array, opts: BuildOptions, signingKey: SigningKey): BuiltRelease {
  return release('snapshot', payload, sha256(payload), opts, signingKey);
}

/** A delta already encoded (encodeDelta), with the content hash of the version it leads to. */
export function buildDeltaFromPayload(payload: Uint8Array, toContentHash: Uint8Array, opts: DeltaBuildOptions, signingKey: SigningKey): BuiltRelease {
  return release('delta', payload, toContentHash, opts, signingKey);
}

/** Delta from `from` (version opts.baseVersion) to `to`; contentHash is that of `to`. */
export function buildDelta(from: DatasetContent, to: DatasetContent, opts: DeltaBuildOptions, signingKey: SigningKey): BuiltRelease {
  const payload = encodeDelta(diffContent(from, to));
  return release('delta', payload, contentHash(to), opts, signingKey);
}

export function buildFirmwareRelease(image: Uint8Array, opts: FirmwareBuildOptions, signingKey: SigningKey): BuiltRelease {
  if (!(image instanceof Uint8Array) || image.length === 0) throw new ProtocolError('INVALID_FIELD', 'firmware image must be non-empty bytes', 'image');
  const expiresAt = opts.expiresAt ?? opts.createdAt + 10 * 365 * 86400;
  return release('firmware', image, sha256(image), { ...opts, expiresAt }, signingKey);
}

export type Assembled =
  | { kind: 'snapshot'; content: DatasetContent }
  /** a delta is applied where the base lives (the device's store), which checks the contentHash */
  | { kind: 'delta'; delta: DatasetDelta }
  | { kind: 'firmware'; image: Uint8Array };

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/**
 * Check every chunk, the total size and (snapshots, firmware) the content hash, then decode. A
 * delta's contentHash is that of the content after applying it: the device's store checks it.
 * Errors: CHUNK_HASH (chunk or content hash), SYNC_STATE (missing chunks), MALFORMED/INVALID_FIELD.
 */
export function assemble(manifest: DatasetManifest, chunks: Uint8Array[]): Assembled {
  const payload = joinChunks(manifest, chunks);
  return assemblePayload(manifest, payload);
}

/** As assemble(), for a payload already joined (e.g. read back from a device's chunk store). */
export function assemblePayload(manifest: DatasetManifest, payload: Uint8Array): Assembled {
  if (payload.length !== manifest.size) throw new ProtocolError('CHUNK_HASH', 'payload size differs from the manifest');
  switch (manifest.kind) {
    case 'firmware':
      if (!sameHash(sha256(payload), manifest.contentHash)) throw new ProtocolError('CHUNK_HASH', 'firmware image hash mismatch');
      return { kind: 'firmware', image: payload };
    case 'snapshot':
      // The payload is the canonical encoding, so its digest is the content hash.
      if (!sameHash(sha256(payload), manifest.contentHash)) throw new ProtocolError('CHUNK_HASH', 'snapshot content hash mismatch');
      return { kind: 'snapshot', content: decodeContent(payload) };
    case 'delta':
      return { kind: 'delta', delta: decodeDelta(payload) };
  }
}
