// Noise cipher functions (rev. 34 §12.3, §12.4) and the CipherState object (§5.1).
// Both AEADs come from node:crypto; only the nonce layouts are Noise's own.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';

export type CipherName = 'AESGCM' | 'ChaChaPoly';

export const TAG_LENGTH = 16;
export const KEY_LENGTH = 32;
/** 2^64-1 is reserved by Noise (used by REKEY), so the last usable nonce is 2^64-2. */
export const MAX_NONCE = 2n ** 64n - 1n;

export interface CipherFunctions {
  readonly name: CipherName;
  encrypt(k: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws DECRYPT_FAILED on an authentication failure. */
  decrypt(k: Uint8Array, n: bigint, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array;
}

function aesgcmNonce(n: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(n, 4); // 32 zero bits then the counter big-endian
  return nonce;
}

function chachaNonce(n: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(n, 4); // 32 zero bits then the counter little-endian
  return nonce;
}

function makeAead(
  name: CipherName,
  algorithm: 'aes-256-gcm' | 'chacha20-poly1305',
  nonceOf: (n: bigint) => Buffer,
): CipherFunctions {
  return {
    name,
    encrypt(k, n, ad, plaintext) {
      const c = crypto.createCipheriv(algorithm as 'aes-256-gcm', k, nonceOf(n), {
        authTagLength: TAG_LENGTH,
      });
      c.setAAD(ad);
      const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
      return new Uint8Array(body.buffer, body.byteOffset, body.length);
    },
    decrypt(k, n, ad, ciphertext) {
      if (ciphertext.length < TAG_LENGTH) {
        throw new ProtocolError('DECRYPT_FAILED', 'ciphertext shorter than the tag');
      }
      const body = ciphertext.subarray(0, ciphertext.length - TAG_LENGTH);
      const tag = ciphertext.subarray(ciphertext.length - TAG_LENGTH);
      try {
        const d = crypto.createDecipheriv(algorithm as 'aes-256-gcm', k, nonceOf(n), {
          authTagLength: TAG_LENGTH,
        });
        d.setAAD(ad);
        d.setAuthTag(tag);
        const out = Buffer.concat([d.update(body), d.final()]);
        return new Uint8Array(out.buffer, out.byteOffset, out.length);
      } catch {
        throw new ProtocolError('DECRYPT_FAILED', 'authentication failed');
      }
    },
  };
}

export const AESGCM: CipherFunctions = makeAead('AESGCM', 'aes-256-gcm', aesgcmNonce);
export const CHACHAPOLY: CipherFunctions = makeAead('ChaChaPoly', 'chacha20-poly1305', chachaNonce);

export function cipherByName(name: string): CipherFunctions {
  if (name === 'AESGCM') return AESGCM;
  if (name === 'ChaChaPoly') return CHACHAPOLY;
  throw new ProtocolError('UNSUPPORTED', `unsupported Noise cipher ${name}`);
}

const EMPTY = new Uint8Array(0);

/** Noise CipherState: a key (or none) and a 64-bit nonce counter. */
export class CipherState {
  private k: Uint8Array | null = null;
  private n = 0n;
  readonly cipher: CipherFunctions;

  constructor(cipher: CipherFunctions, key?: Uint8Array) {
    this.cipher = cipher;
    if (key) this.initializeKey(key);
  }

  initializeKey(key: Uint8Array | null): void {
    this.k = key === null ? null : Uint8Array.from(key.subarray(0, KEY_LENGTH));
    this.n = 0n;
  }

  hasKey(): boolean {
    return this.k !== null;
  }

  /** Explicit nonces (used by SecureChannel): the next operation uses this nonce. */
  setNonce(n: bigint): void {
    if (n < 0n || n >= MAX_NONCE) {
      throw new ProtocolError('INVALID_FIELD', 'nonce out of range', 'nonce');
    }
    this.n = n;
  }

  get nonce(): bigint {
    return this.n;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.k === null) return Uint8Array.from(plaintext);
    if (this.n >= MAX_NONCE) throw new ProtocolError('LIMIT_EXCEEDED', 'nonce space exhausted');
    const out = this.cipher.encrypt(this.k, this.n, ad, plaintext);
    this.n += 1n;
    return out;
  }

  /** On an authentication failure nothing changes (Noise §5.1: n is not incremented). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.k === null) return Uint8Array.from(ciphertext);
    if (this.n >= MAX_NONCE) throw new ProtocolError('LIMIT_EXCEEDED', 'nonce space exhausted');
    const out = this.cipher.decrypt(this.k, this.n, ad, ciphertext);
    this.n += 1n;
    return out;
  }

  /** REKEY(k) = first 32 bytes of ENCRYPT(k, 2^64-1, zerolen, zeros) (§4.2); n is kept. */
  rekey(): void {
    if (this.k === null) return;
    const out = this.cipher.encrypt(this.k, MAX_NONCE, EMPTY, new Uint8Array(KEY_LENGTH));
    this.k = out.subarray(0, KEY_LENGTH).slice();
  }
}
