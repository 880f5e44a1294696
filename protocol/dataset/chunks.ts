// Payloads (encoded snapshot/delta, or firmware image) travel in fixed-size chunks, each checked
// against its SHA-256 in the signed manifest before it is stored.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';
import { sha256 } from './codec.ts';
import type { DatasetManifest } from './types.ts';

export function splitChunks(payload: Uint8Array, chunkSize: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < payload.length; i += chunkSize) out.push(payload.subarray(i, Math.min(i + chunkSize, payload.length)));
  return out;
}

export function expectedChunkLength(manifest: DatasetManifest, index: number): number {
  const last = manifest.chunks.length - 1;
  return index < last ? manifest.chunkSize : manifest.size - last * manifest.chunkSize;
}

/** Throws INVALID_FIELD for an index out of range, CHUNK_HASH for a wrong length or digest. */
export function verifyChunk(manifest: DatasetManifest, index: number, data: Uint8Array): void {
  if (!Number.isInteger(index) || index < 0 || index >= manifest.chunks.length) {
    throw new ProtocolError('INVALID_FIELD', `chunk index ${index} out of range 0..${manifest.chunks.length - 1}`, 'index');
  }
  if (!(data instanceof Uint8Array) || data.length !== expectedChunkLength(manifest, index)) {
    throw new ProtocolError('CHUNK_HASH', `chunk ${index} has the wrong length`, String(index));
  }
  if (!crypto.timingSafeEqual(sha256(data), manifest.chunks[index])) {
    throw new ProtocolError('CHUNK_HASH', `chunk ${index} does not match its hash`, String(index));
  }
}

/** Verify every chunk and concatenate them into the payload. */
export function joinChunks(manifest: DatasetManifest, chunks: Uint8Array[]): Uint8Array {
  if (!Array.isArray(chunks) || chunks.length !== manifest.chunks.length) {
    throw new ProtocolError('SYNC_STATE', `expected ${manifest.chunks.length} chunks, got ${Array.isArray(chunks) ? chunks.length : 0}`);
  }
  chunks.forEach((c, i) => verifyChunk(manifest, i, c));
  const payload = new Uint8Array(Buffer.concat(chunks));
  if (payload.length !== manifest.size) throw new ProtocolError('CHUNK_HASH', 'assembled size differs from the manifest');
  return payload;
}
