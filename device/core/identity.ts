// Device identity: the secrets a verifier is provisioned with, one file each under
// <dataDir>/identity/ (dir 0700, files 0600), written atomically (temp file + rename):
//   device-id             "pc-" + 12 hex
//   noise-static.key      raw 32-byte X25519 private key (the public half is derived)
//   card.key              raw 32-byte card key (HMAC key for card tokens)
//   dataset-signing.pub   raw 32-byte Ed25519 public key(s) of the network service, concatenated
//                         (more than one allows key rotation)
// Nothing here is ever logged; errors name files, never contents.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ProtocolError } from '../../protocol/errors.ts';
import { generateKeyPair, keyPairFromPrivate, type RawKeyPair } from '../../protocol/secure/x25519.ts';
import { CARD_KEY_BYTES } from '../../protocol/dataset/token.ts';

export interface DeviceIdentity {
  deviceId: string;
  /** Noise static key pair (X25519, raw 32 bytes each) */
  staticKeyPair: RawKeyPair;
  cardKey: Uint8Array;
  /** trusted Ed25519 dataset/firmware signing public keys (raw 32 bytes each) */
  trustedSigningKeys: Uint8Array[];
}

export interface ProvisionOptions {
  serverSigningPublicKey: Uint8Array | Uint8Array[];
  cardKey?: Uint8Array;
  deviceId?: string;
  /** raw X25519 private key; generated when absent */
  staticPrivateKey?: Uint8Array;
}

const DEVICE_ID_RE = /^pc-[0-9a-f]{12}$/;
const FILES = {
  deviceId: 'device-id',
  staticKey: 'noise-static.key',
  cardKey: 'card.key',
  signingKeys: 'dataset-signing.pub',
} as const;

export function identityDir(dataDir: string): string {
  return path.join(dataDir, 'identity');
}

export function isProvisioned(dataDir: string): boolean {
  return fs.existsSync(path.join(identityDir(dataDir), FILES.deviceId));
}

export function newDeviceId(): string {
  return 'pc-' + crypto.randomBytes(6).toString('hex');
}

function writeSecret(dir: string, name: string, data: Uint8Array | string): void {
  const file = path.join(dir, name);
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, 0o600); // umask cannot widen 0600, but be explicit
  fs.renameSync(tmp, file);
}

function checkKeys(keys: Uint8Array[], what: string): void {
  if (keys.length === 0 || keys.some((k) => !(k instanceof Uint8Array) || k.length !== 32)) {
    throw new ProtocolError('INVALID_FIELD', `${what} must be 32-byte keys`, what);
  }
}

/** Create the data dir and a new identity. Refuses to overwrite an existing one. */
export function provision(dataDir: string, opts: ProvisionOptions): DeviceIdentity {
  const signing = Array.isArray(opts.serverSigningPublicKey) ? opts.serverSigningPublicKey : [opts.serverSigningPublicKey];
  checkKeys(signing, 'serverSigningPublicKey');
  const cardKey = opts.cardKey ?? new Uint8Array(crypto.randomBytes(CARD_KEY_BYTES));
  if (!(cardKey instanceof Uint8Array) || cardKey.length !== CARD_KEY_BYTES) {
    throw new ProtocolError('INVALID_FIELD', `cardKey must be ${CARD_KEY_BYTES} bytes`, 'cardKey');
  }
  const deviceId = opts.deviceId ?? newDeviceId();
  if (!DEVICE_ID_RE.test(deviceId)) throw new ProtocolError('INVALID_FIELD', 'deviceId must be "pc-" + 12 hex characters', 'deviceId');
  const staticKeyPair = opts.staticPrivateKey ? keyPairFromPrivate(opts.staticPrivateKey) : generateKeyPair();

  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dataDir, 0o700);
  const dir = identityDir(dataDir);
  if (isProvisioned(dataDir)) throw new ProtocolError('UNSUPPORTED', 'device already provisioned');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  writeSecret(dir, FILES.staticKey, staticKeyPair.privateKey);
  writeSecret(dir, FILES.cardKey, cardKey);
  writeSecret(dir, FILES.signingKeys, Buffer.concat(signing));
  // device-id last: its presence marks a complete identity
  writeSecret(dir, FILES.deviceId, deviceId + '\n');
  return { deviceId, staticKeyPair, cardKey: Uint8Array.from(cardKey), trustedSigningKeys: signing.map((k) => Uint8Array.from(k)) };
}

function readFile(dir: string, name: string): Buffer {
  const file = path.join(dir, name);
  try {
    return fs.readFileSync(file);
  } catch {
    throw new ProtocolError('INTERNAL', `identity file ${name} missing or unreadable`);
  }
}

export function loadIdentity(dataDir: string): DeviceIdentity {
  const dir = identityDir(dataDir);
  if (!isProvisioned(dataDir)) throw new ProtocolError('INTERNAL', `no device identity under ${dir}; provision first`);
  const deviceId = readFile(dir, FILES.deviceId).toString('utf8').trim();
  if (!DEVICE_ID_RE.test(deviceId)) throw new ProtocolError('INTERNAL', 'identity file device-id is corrupt');
  const staticKey = readFile(dir, FILES.staticKey);
  const cardKey = readFile(dir, FILES.cardKey);
  const signing = readFile(dir, FILES.signingKeys);
  if (staticKey.length !== 32 || cardKey.length !== CARD_KEY_BYTES || signing.length === 0 || signing.length % 32 !== 0) {
    throw new ProtocolError('INTERNAL', 'identity key file has the wrong length');
  }
  const trustedSigningKeys: Uint8Array[] = [];
  for (let i = 0; i < signing.length; i += 32) trustedSigningKeys.push(new Uint8Array(signing.subarray(i, i + 32)));
  return {
    deviceId,
    staticKeyPair: keyPairFromPrivate(new Uint8Array(staticKey)),
    cardKey: new Uint8Array(cardKey),
    trustedSigningKeys,
  };
}
