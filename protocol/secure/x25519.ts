// X25519 key handling on node:crypto KeyObjects.
//
// Node 20's createPrivateKey/createPublicKey accept DER, PEM or JWK but no "raw" format for
// X25519. The DER encodings of an X25519 key are a fixed ASN.1 header followed by the 32 raw
// bytes (RFC 8410), so prefixing the header gives an exact PKCS#8 / SPKI document without an
// ASN.1 library, and slicing it off again gives the raw key back.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export const X25519_KEY_LENGTH = 32;

export interface RawKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

function checkLength(raw: Uint8Array, what: string): void {
  if (!(raw instanceof Uint8Array) || raw.length !== X25519_KEY_LENGTH) {
    throw new ProtocolError('INVALID_FIELD', `${what} must be ${X25519_KEY_LENGTH} bytes`, what);
  }
}

export function privateKeyFromRaw(raw: Uint8Array): crypto.KeyObject {
  checkLength(raw, 'x25519 private key');
  return crypto.createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, raw]),
    format: 'der',
    type: 'pkcs8',
  });
}

export function publicKeyFromRaw(raw: Uint8Array): crypto.KeyObject {
  checkLength(raw, 'x25519 public key');
  return crypto.createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  });
}

export function rawPublicKey(key: crypto.KeyObject): Uint8Array {
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
  const der = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(SPKI_PREFIX.length));
}

export function rawPrivateKey(key: crypto.KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(der.subarray(PKCS8_PREFIX.length));
}

/** Public key for a raw private key. */
export function publicFromPrivate(privateKey: Uint8Array): Uint8Array {
  return rawPublicKey(privateKeyFromRaw(privateKey));
}

export function generateKeyPair(): RawKeyPair {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('x25519');
  return { privateKey: rawPrivateKey(privateKey), publicKey: rawPublicKey(publicKey) };
}

export function keyPairFromPrivate(privateKey: Uint8Array): RawKeyPair {
  return { privateKey: Uint8Array.from(privateKey), publicKey: publicFromPrivate(privateKey) };
}

/**
 * X25519(priv, pub). OpenSSL refuses an all-zero result (a low-order peer point), which would
 * otherwise let a peer force a known shared secret; that refusal surfaces as HANDSHAKE_FAILED.
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    const out = crypto.diffieHellman({
      privateKey: privateKeyFromRaw(privateKey),
      publicKey: publicKeyFromRaw(publicKey),
    });
    return new Uint8Array(out);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError('HANDSHAKE_FAILED', 'X25519 key agreement failed');
  }
}
