// The service's secrets, created on first start as files of mode 0600 under the data dir:
//   card.key     32 random bytes, the HMAC key that turns a PAN into a card token
//   signing.key  32-byte Ed25519 seed that signs datasets and firmware releases
// A key file readable by others is refused (like ssh does) rather than silently used.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { ServiceError } from './errors.ts';

export interface ServiceKeys {
  cardKey: Uint8Array;
  /** Raw 32-byte Ed25519 seed. */
  signingSeed: Uint8Array;
  signingPrivateKey: crypto.KeyObject;
  /** Raw 32-byte Ed25519 public key: what devices are provisioned with. */
  signingPublicKey: Uint8Array;
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function ed25519FromSeed(seed: Uint8Array): { privateKey: crypto.KeyObject; publicKey: Uint8Array } {
  const privateKey = crypto.createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(seed)]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, publicKey: new Uint8Array(spki.subarray(spki.length - 32)) };
}

export function ensureDataDir(dataDir: string): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
}

/** Reads a secret file, or creates it with `make()` (exclusive create, mode 0600). */
export function loadOrCreateSecret(file: string, make: () => Buffer): { value: Buffer; created: boolean } {
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    const value = make();
    try {
      fs.writeSync(fd, value);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return { value, created: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    throw new ServiceError('FORBIDDEN', `${path.basename(file)} is readable by group/others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  return { value: fs.readFileSync(file), created: false };
}

export function loadOrCreateKeys(dataDir: string): ServiceKeys {
  ensureDataDir(dataDir);
  const card = loadOrCreateSecret(path.join(dataDir, 'card.key'), () => crypto.randomBytes(32));
  const sign = loadOrCreateSecret(path.join(dataDir, 'signing.key'), () => crypto.randomBytes(32));
  if (card.value.length !== 32 || sign.value.length !== 32) {
    throw new ServiceError('INTERNAL', 'key file has the wrong length (expected 32 bytes)');
  }
  const { privateKey, publicKey } = ed25519FromSeed(sign.value);
  return {
    cardKey: new Uint8Array(card.value),
    signingSeed: new Uint8Array(sign.value),
    signingPrivateKey: privateKey,
    signingPublicKey: publicKey,
  };
}
