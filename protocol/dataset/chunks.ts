// Chunked, hash-chained transfer of a payload (encoded snapshot/delta, or firmware image).
//
// Why a chain and not a list of chunk digests in the manifest: a manifest must fit in one
// protocol message (a few kB), and 10^6 restricted cards are 16 MB = 4000+ chunks = 128 kB of
// digests. Instead each chunk carries the digest of the next one:
//
//   piece_i  = payload[i*(chunkSize-32) .. (i+1)*(chunkSize-32))
//   chunk_i  = piece_i || SHA-256(chunk_{i+1})     for i < n-1
//   chunk_n-1 = piece_n-1                           (no trailer)
//   manifest.firstChunkHash = SHA-256(chunk_0),  n = chunkCount = ceil(size / (chunkSize-32))
//
// The signed manifest authenticates chunk 0, chunk 0 authenticates chunk 1, and so on, so every
// chunk is verified the moment it arrives (CHUNK_HASH), chunks are taken strictly in order (the
// sync protocol does that anyway), and a resumed transfer needs only the last stored chunk.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';
import { sha256 } from './codec.ts';
import type { DatasetManifest } from './types.ts';

export const CHUNK_LINK_BYTES = 32;

/** Payload bytes carried per chunk (all but the last chunk). */
export function pieceSize(chunkSize: number): number {
  return chunkSize - CHUNK_LINK_BYTES;
}

export function chunkCountFor(size: number, chunkSize: number): number {
  return Math.ceil(size / pieceSize(chunkSize));
}

/** Build the chained chunks for a payload; returns them and SHA-256 of chunk 0. */
export function makeChunks(payload: Uint8Array, chunkSize: number): { chunks: Uint8Array[]; firstChunkHash: Uint8Array } {
  const piece = pieceSize(chunkSize);
  const n = chunkCountFor(payload.length, chunkSize);
  if (n === 0) throw new ProtocolError('INVALID_FIELD', 'empty payload', 'size');
  const chunks = new Array<Uint8Array>(n);
  let next: Uint8Array | null = null;
  for (let i = n - 1; i >= 0; i--) {
    const part = payload.subarray(i * piece, Math.min((i + 1) * piece, payload.length));
    const c = new Uint8Array(part.length + (next ? CHUNK_LINK_BYTES : 0));
    c.set(part, 0);
    if (next) c.set(next, part.length);
    chunks[i] = c;
    next = sha256(c);
  }
  return { chunks, firstChunkHash: next! };
}

export function expectedChunkLength(manifest: DatasetManifest, index: number): number {
  const last = manifest.chunkCount - 1;
  return index < last ? manifest.chunkSize : manifest.size - last * pieceSize(manifest.chunkSize);
}

/**
 * Check chunk `index` against the digest it must have: manifest.firstChunkHash for chunk 0, else
 * the trailer of chunk index-1 (`nextChunkHash(prev)`). Returns the digest chunk index+1 must
 * have, or null after the last chunk. INVALID_FIELD for an index out of range, CHUNK_HASH for a
 * wrong length or digest.
 */
export function verifyChunk(manifest: DatasetManifest, index: number, data: Uint8Array, expectedHash?: Uint8Array): Uint8Array | null {
  if (!Number.isInteger(index) || index < 0 || index >= manifest.chunkCount) {
    throw new ProtocolError('INVALID_FIELD', `chunk index ${index} out of range 0..${manifest.chunkCount - 1}`, 'index');
  }
  const expected = index === 0 ? manifest.firstChunkHash : expectedHash;
  if (!expected || expected.length !== 32) throw new ProtocolError('SYNC_STATE', `chunk ${index}: the previous chunk's digest is needed`);
  if (!(data instanceof Uint8Array) || data.length !== expectedChunkLength(manifest, index)) {
    throw new ProtocolError('CHUNK_HASH', `chunk ${index} has the wrong length`, String(index));
  }
  if (!crypto.timingSafeEqual(sha256(data), expected)) {
    throw new ProtocolError('CHUNK_HASH', `chunk ${index} does not match its hash`, String(index));
  }
  return nextChunkHash(manifest, index, data);
}

/** The digest the chunk after `index` must have (the trailer), or null for the last chunk. */
export function nextChunkHash(manifest: DatasetManifest, index: number, data: Uint8Array): Uint8Array | null {
  if (index >= manifest.chunkCount - 1) return null;
  return new Uint8Array(data.subarray(data.length - CHUNK_LINK_BYTES));
}

/** The payload bytes of a chunk (without its trailer). */
export function chunkPiece(manifest: DatasetManifest, index: number, data: Uint8Array): Uint8Array {
  return index >= manifest.chunkCount - 1 ? data : data.subarray(0, data.length - CHUNK_LINK_BYTES);
}

/** Verify the whole chain and concatenate the pieces into the payload. */
export function joinChunks(manifest: DatasetManifest, chunks: Uint8Array[]): Uint8Array {
  if (!Array.isArray(chunks) || chunks.length !== manifest.chunkCount) {
    throw new ProtocolError('SYNC_STATE', `expected ${manifest.chunkCount} chunks, got ${Array.isArray(chunks) ? chunks.length : 0}`);
  }
  const out = new Uint8Array(manifest.size);
  let expected: Uint8Array | null = manifest.firstChunkHash;
  let pos = 0;
  chunks.forEach((c, i) => {
    expected = verifyChunk(manifest, i, c, expected ?? undefined);
    const piece = chunkPiece(manifest, i, c);
    out.set(piece, pos);
    pos += piece.length;
  });
  if (pos !== manifest.size) throw new ProtocolError('CHUNK_HASH', 'assembled size differs from the manifest');
  return out;
}
