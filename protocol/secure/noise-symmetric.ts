// Noise SymmetricState (rev. 34 §5.2) with SHA-256 and Noise's HKDF (§4.3).
//
// Noise's HKDF is a chain of HMACs with the chaining key as salt and no "info" input, and it
// returns 2 or 3 outputs; node's crypto.hkdf implements RFC 5869 extract+expand with an info
// string, which is not the same function, so it is written out here on crypto.createHmac.
import crypto from 'node:crypto';
import { CipherState, type CipherFunctions } from './noise-cipher.ts';

export const HASH_LENGTH = 32;

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const m = crypto.createHmac('sha256', key);
  for (const p of parts) m.update(p);
  return new Uint8Array(m.digest());
}

const BYTE1 = Uint8Array.of(1);
const BYTE2 = Uint8Array.of(2);
const BYTE3 = Uint8Array.of(3);

export function hkdf2(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const temp = hmac(ck, ikm);
  const o1 = hmac(temp, BYTE1);
  const o2 = hmac(temp, o1, BYTE2);
  return [o1, o2];
}

export function hkdf3(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const temp = hmac(ck, ikm);
  const o1 = hmac(temp, BYTE1);
  const o2 = hmac(temp, o1, BYTE2);
  const o3 = hmac(temp, o2, BYTE3);
  return [o1, o2, o3];
}

export class SymmetricState {
  private ck: Uint8Array;
  private h: Uint8Array;
  readonly cs: CipherState;

  constructor(protocolName: string, cipher: CipherFunctions) {
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= HASH_LENGTH) {
      this.h = new Uint8Array(HASH_LENGTH);
      this.h.set(name);
    } else {
      this.h = sha256(name);
    }
    this.ck = this.h.slice();
    this.cs = new CipherState(cipher);
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf2(this.ck, ikm);
    this.ck = ck;
    this.cs.initializeKey(tempK);
  }

  mixHash(data: Uint8Array): void {
    this.h = sha256(this.h, data);
  }

  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf3(this.ck, ikm);
    this.ck = ck;
    this.mixHash(tempH);
    this.cs.initializeKey(tempK);
  }

  handshakeHash(): Uint8Array {
    return this.h.slice();
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ct = this.cs.encryptWithAd(this.h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const pt = this.cs.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf2(this.ck, new Uint8Array(0));
    // Wipe the chaining key: it could re-derive both transport keys.
    this.ck.fill(0);
    return [new CipherState(this.cs.cipher, k1), new CipherState(this.cs.cipher, k2)];
  }
}
