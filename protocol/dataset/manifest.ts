// Signed manifests. The manifest is a canonical CBOR map with integer keys:
//   1 format (1), 2 kind ("snapshot"|"delta"|"firmware"), 3 version (u32), 4 baseVersion (delta
//   only), 5 createdAt, 6 expiresAt (unix s), 7 size, 8 chunkSize, 9 chunkCount, 10 firstChunkHash
//   (32 bytes; chunks are hash-chained, see chunks.ts), 11 contentHash (32 bytes), 12 keyId (16 hex),
//   13 rulesVersion (datasets only, optional: the decision rules version of the service that built it).
// Its size is constant (~170 bytes) whatever the dataset size.
// The signed envelope is the CBOR map {1: manifest bytes, 2: Ed25519 signature (64 bytes)}; the
// signature covers "precheck/manifest/v1\0" || manifest bytes (domain separation, so no other
// Ed25519 signature by the same key can pass as a manifest).
import crypto from 'node:crypto';
import { ProtocolError, asProtocolError } from '../errors.ts';
import { decodeDatasetCbor, encodeCbor } from '../cbor.ts';
import { chunkCountFor } from './chunks.ts';
import { MAX_PAYLOAD_BYTES, sha256 } from './codec.ts';
import type { DatasetManifest, ManifestKind } from './types.ts';

export const MANIFEST_FORMAT = 1;
export const DEFAULT_CHUNK_SIZE = 4096;
export const MIN_CHUNK_SIZE = 64;
export const MAX_CHUNK_SIZE = 1024 * 1024;
export const MAX_MANIFEST_BYTES = 512;
export const MAX_SIGNED_MANIFEST_BYTES = MAX_MANIFEST_BYTES + 128;
export const U32_MAX = 0xffffffff;
const SIGNATURE_DOMAIN = Buffer.from('precheck/manifest/v1\0', 'utf8');
const KINDS: readonly ManifestKind[] = ['snapshot', 'delta', 'firmware'];

// ---------------------------------------------------------------- Ed25519 raw keys
// node:crypto takes no "raw" Ed25519 format in Node 20; the DER forms are a fixed RFC 8410 header
// followed by the 32 raw bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SigningKeyPair {
  /** raw 32-byte Ed25519 public key */
  publicKey: Uint8Array;
  /** raw 32-byte Ed25519 private key (seed) */
  privateKey: Uint8Array;
}

function rawKey(k: Uint8Array, what: string): Buffer {
  if (!(k instanceof Uint8Array) || k.length !== 32) throw new ProtocolError('INVALID_FIELD', `${what} must be 32 bytes`, what);
  return Buffer.from(k);
}
export function signingPrivateKeyFromRaw(raw: Uint8Array): crypto.KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, rawKey(raw, 'ed25519 private key')]), format: 'der', type: 'pkcs8' });
}
export function signingPublicKeyFromRaw(raw: Uint8Array): crypto.KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, rawKey(raw, 'ed25519 public key')]), format: 'der', type: 'spki' });
}
export function rawSigningPublicKey(key: crypto.KeyObject): Uint8Array {
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
  return new Uint8Array(pub.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
}
export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  return {
    publicKey: rawSigningPublicKey(publicKey),
    privateKey: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length)),
  };
}
/** Raw public key for a raw private key. */
export function signingPublicFromPrivate(privateKey: Uint8Array): Uint8Array {
  return rawSigningPublicKey(signingPrivateKeyFromRaw(privateKey));
}
/** First 8 bytes of SHA-256(raw public key), lowercase hex. */
export function keyIdOf(publicKey: Uint8Array): string {
  return Buffer.from(sha256(rawKey(publicKey, 'ed25519 public key')).subarray(0, 8)).toString('hex');
}

export type SigningKey = Uint8Array | crypto.KeyObject;
function toPrivateKeyObject(k: SigningKey): crypto.KeyObject {
  if (k instanceof Uint8Array) return signingPrivateKeyFromRaw(k);
  if (k.type !== 'private' || k.asymmetricKeyType !== 'ed25519') throw new ProtocolError('INVALID_FIELD', 'Ed25519 private key expected', 'signingKey');
  return k;
}
export function publicKeyOfSigningKey(k: SigningKey): Uint8Array {
  return rawSigningPublicKey(toPrivateKeyObject(k));
}

// ---------------------------------------------------------------- manifest codec

function bad(field: string, what: string): never {
  throw new ProtocolError('INVALID_FIELD', `manifest.${field}: ${what}`, field);
}
function uint(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(field, `integer ${min}..${max} expected`);
  return v;
}
function bytes32(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== 32) bad(field, '32 bytes expected');
  return new Uint8Array(v);
}

/** Checks every field and the relations between them; returns a clean copy. */
export function validateManifest(m: DatasetManifest): DatasetManifest {
  if (typeof m !== 'object' || m === null) bad('', 'object expected');
  if (m.format !== MANIFEST_FORMAT) throw new ProtocolError('UNSUPPORTED', 'unsupported manifest format', 'format');
  if (!KINDS.includes(m.kind)) bad('kind', 'snapshot|delta|firmware expected');
  const version = uint(m.version, 'version', 1, U32_MAX);
  let baseVersion: number | undefined;
  if (m.kind === 'delta') {
    baseVersion = uint(m.baseVersion, 'baseVersion', 1, U32_MAX);
    if (baseVersion >= version) bad('baseVersion', 'must be lower than version');
  } else if (m.baseVersion !== undefined) bad('baseVersion', 'only allowed for deltas');
  const createdAt = uint(m.createdAt, 'createdAt', 0, Number.MAX_SAFE_INTEGER);
  const expiresAt = uint(m.expiresAt, 'expiresAt', 0, Number.MAX_SAFE_INTEGER);
  if (expiresAt <= createdAt) bad('expiresAt', 'must be after createdAt');
  const size = uint(m.size, 'size', 1, MAX_PAYLOAD_BYTES);
  const chunkSize = uint(m.chunkSize, 'chunkSize', MIN_CHUNK_SIZE, MAX_CHUNK_SIZE);
  const chunkCount = uint(m.chunkCount, 'chunkCount', 1, U32_MAX);
  if (chunkCount !== chunkCountFor(size, chunkSize)) bad('chunkCount', `${chunkCountFor(size, chunkSize)} expected for size and chunkSize`);
  const firstChunkHash = bytes32(m.firstChunkHash, 'firstChunkHash');
  const contentHash = bytes32(m.contentHash, 'contentHash');
  if (typeof m.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(m.keyId)) bad('keyId', '16 lowercase hex characters expected');
  const out: DatasetManifest = { format: 1, kind: m.kind, version, createdAt, expiresAt, size, chunkSize, chunkCount, firstChunkHash, contentHash, keyId: m.keyId };
  if (baseVersion !== undefined) out.baseVersion = baseVersion;
  if (m.rulesVersion !== undefined) {
    if (m.kind === 'firmware') bad('rulesVersion', 'only allowed for datasets');
    out.rulesVersion = uint(m.rulesVersion, 'rulesVersion', 1, 0xffff);
  }
  return out;
}

export function encodeManifest(manifest: DatasetManifest): Uint8Array {
  const m = validateManifest(manifest);
  const map = new Map<number, unknown>([
    [1, m.format],
    [2, m.kind],
    [3, m.version],
  ]);
  if (m.baseVersion !== undefined) map.set(4, m.baseVersion);
  map.set(5, m.createdAt);
  map.set(6, m.expiresAt);
  map.set(7, m.size);
  map.set(8, m.chunkSize);
  map.set(9, m.chunkCount);
  map.set(10, m.firstChunkHash);
  map.set(11, m.contentHash);
  map.set(12, m.keyId);
  if (m.rulesVersion !== undefined) map.set(13, m.rulesVersion);
  return encodeCbor(map);
}

export function decodeManifest(bytes: Uint8Array): DatasetManifest {
  const v = decodeDatasetCbor(bytes, { maxBytes: MAX_MANIFEST_BYTES, maxDepth: 2 });
  if (!(v instanceof Map)) throw new ProtocolError('MALFORMED', 'manifest: CBOR map expected');
  for (const k of v.keys()) {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 13) throw new ProtocolError('INVALID_FIELD', 'manifest: unknown key', String(k));
  }
  const m = {
    format: v.get(1),
    kind: v.get(2),
    version: v.get(3),
    baseVersion: v.get(4),
    createdAt: v.get(5),
    expiresAt: v.get(6),
    size: v.get(7),
    chunkSize: v.get(8),
    chunkCount: v.get(9),
    firstChunkHash: v.get(10),
    contentHash: v.get(11),
    keyId: v.get(12),
    rulesVersion: v.get(13),
  } as DatasetManifest;
  if (!v.has(4)) delete m.baseVersion;
  if (!v.has(13)) delete m.rulesVersion;
  return validateManifest(m);
}

// ---------------------------------------------------------------- signing

export function signManifest(manifest: DatasetManifest, privateKey: SigningKey): Uint8Array {
  const key = toPrivateKeyObject(privateKey);
  const expected = keyIdOf(rawSigningPublicKey(key));
  if (manifest.keyId !== expected) throw new ProtocolError('INVALID_FIELD', 'manifest.keyId does not match the signing key', 'keyId');
  const body = encodeManifest(manifest);
  const signature = crypto.sign(null, Buffer.concat([SIGNATURE_DOMAIN, body]), key);
  return encodeCbor(new Map<number, unknown>([[1, body], [2, new Uint8Array(signature)]]));
}

/** Splits the envelope without checking the signature (for logging/inspection only). */
export function splitSignedManifest(bytes: Uint8Array): { body: Uint8Array; signature: Uint8Array } {
  const v = decodeDatasetCbor(bytes, { maxBytes: MAX_SIGNED_MANIFEST_BYTES, maxDepth: 1 });
  if (!(v instanceof Map) || v.size !== 2) throw new ProtocolError('MALFORMED', 'signed manifest: CBOR map {1, 2} expected');
  const body = v.get(1);
  const signature = v.get(2);
  if (!(body instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== 64) {
    throw new ProtocolError('MALFORMED', 'signed manifest: manifest bytes and 64-byte signature expected');
  }
  return { body: new Uint8Array(body), signature: new Uint8Array(signature) };
}

/**
 * Verify the signature against the trusted keys, then decode and validate every field.
 * SIGNATURE_INVALID if no trusted key verifies it (or the keyId names another key).
 */
export function openSignedManifest(bytes: Uint8Array, trustedPublicKeys: Uint8Array[]): DatasetManifest {
  const { body, signature } = splitSignedManifest(bytes);
  const signed = Buffer.concat([SIGNATURE_DOMAIN, body]);
  let signer: Uint8Array | null = null;
  for (const pub of trustedPublicKeys) {
    let ok = false;
    try {
      ok = crypto.verify(null, signed, signingPublicKeyFromRaw(pub), signature);
    } catch (e) {
      throw asProtocolError(e, 'INTERNAL');
    }
    if (ok) {
      signer = pub;
      break;
    }
  }
  if (!signer) throw new ProtocolError('SIGNATURE_INVALID', 'manifest signature does not verify with any trusted key');
  const manifest = decodeManifest(body);
  if (manifest.keyId !== keyIdOf(signer)) throw new ProtocolError('SIGNATURE_INVALID', 'manifest keyId does not name its signing key');
  return manifest;
}
