// Precheck's secure channel: the Noise suites and prologue it uses, the transport wrapper with
// explicit nonces, the pairing code, and static-key helpers.
//
// Suite choice: ChaCha20-Poly1305 rather than AES-GCM. The device class (Raspberry Pi Zero 2 W,
// BCM2710A1 / Cortex-A53) has no ARMv8 Crypto Extensions, so AES would run as table-based
// software (slower and cache-timing sensitive); ChaCha20-Poly1305 is fast and constant-time in
// plain software on every host and device we target.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';
import type { CipherState } from './noise-cipher.ts';
import { TAG_LENGTH } from './noise-cipher.ts';
import type { TransportPair } from './noise-handshake.ts';
import { MAX_NOISE_MESSAGE } from './noise-handshake.ts';
import {
  generateKeyPair,
  keyPairFromPrivate,
  privateKeyFromRaw,
  publicKeyFromRaw,
  rawPrivateKey,
  rawPublicKey,
  type RawKeyPair,
} from './x25519.ts';

export const PAIRING_PROTOCOL = 'Noise_XX_25519_ChaChaPoly_SHA256';
export const SESSION_PROTOCOL = 'Noise_KK_25519_ChaChaPoly_SHA256';
export const PRECHECK_PROLOGUE: Uint8Array = new TextEncoder().encode('precheck/1');
/** Largest explicit nonce: nonces travel as CBOR unsigned ints and live in JS numbers. */
export const MAX_CHANNEL_NONCE = Number.MAX_SAFE_INTEGER;
/** Largest plaintext one sealed message may carry (Noise's 65535-byte message limit). */
export const MAX_PLAINTEXT = MAX_NOISE_MESSAGE - TAG_LENGTH;

export type StaticKeyPair = RawKeyPair;
export { privateKeyFromRaw, publicKeyFromRaw, rawPrivateKey, rawPublicKey, keyPairFromPrivate };

/** A new X25519 static key pair (raw 32-byte keys) for a host or a device. */
export function generateStaticKeyPair(): StaticKeyPair {
  return generateKeyPair();
}

export interface SealedMessage {
  /** Explicit per-direction counter, strictly increasing, 0 .. 2^53-1. */
  nonce: number;
  /** AEAD output: encrypted plaintext followed by the 16-byte tag. */
  ciphertext: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * Transport after a handshake, with explicit nonces.
 *
 * Plain Noise transport messages use implicit counters: each side assumes the peer received
 * every earlier message exactly once. On our links that does not hold: an RS485 request whose
 * CRC fails is retried, a BLE link drops and reconnects mid-exchange, a HID host resends after a
 * timeout. One lost or duplicated frame would leave the two counters apart and every later
 * message would fail to decrypt. So each message carries its nonce, the receiver decrypts with
 * that nonce (CipherState.setNonce), and accepts it only if it is strictly greater than the last
 * accepted one: a retransmitted or replayed frame is refused (REPLAY) without harm, a lost frame
 * costs nothing, and no nonce is ever used twice with a key.
 */
export class SecureChannel {
  private readonly send: CipherState;
  private readonly receive: CipherState;
  private nextSend = 0;
  private lastReceived = -1;
  readonly handshakeHash: Uint8Array;
  readonly remoteStatic: Uint8Array;

  constructor(transport: TransportPair, handshakeHash: Uint8Array, remoteStatic: Uint8Array) {
    this.send = transport.send;
    this.receive = transport.receive;
    this.handshakeHash = Uint8Array.from(handshakeHash);
    this.remoteStatic = Uint8Array.from(remoteStatic);
  }

  /** The nonce the next seal() will use. */
  get nextSendNonce(): number {
    return this.nextSend;
  }

  /** The last nonce open() accepted, or -1 before the first message. */
  get lastReceivedNonce(): number {
    return this.lastReceived;
  }

  /** Encrypts one message. `ad` is associated data (Precheck v1 uses none). */
  seal(plaintext: Uint8Array, ad: Uint8Array = EMPTY): SealedMessage {
    if (!(plaintext instanceof Uint8Array)) {
      throw new ProtocolError('INVALID_FIELD', 'plaintext must be bytes', 'plaintext');
    }
    if (plaintext.length > MAX_PLAINTEXT) {
      throw new ProtocolError('TOO_LARGE', `plaintext over ${MAX_PLAINTEXT} bytes`);
    }
    if (this.nextSend > MAX_CHANNEL_NONCE) {
      throw new ProtocolError('LIMIT_EXCEEDED', 'nonce space exhausted: start a new session');
    }
    const nonce = this.nextSend;
    this.send.setNonce(BigInt(nonce));
    const ciphertext = this.send.encryptWithAd(ad, plaintext);
    this.nextSend = nonce + 1;
    return { nonce, ciphertext };
  }

  /**
   * Decrypts one message. REPLAY for a nonce not strictly greater than the last accepted one
   * (detail "duplicate" when equal, so a responder can recognise a retransmission),
   * DECRYPT_FAILED for a forged, corrupted or truncated ciphertext. A refused message leaves the
   * channel exactly as it was.
   */
  open(message: SealedMessage, ad: Uint8Array = EMPTY): Uint8Array {
    const { nonce, ciphertext } = message ?? ({} as Partial<SealedMessage>);
    if (typeof nonce !== 'number' || !Number.isSafeInteger(nonce) || nonce < 0) {
      throw new ProtocolError('INVALID_FIELD', 'nonce must be an integer 0..2^53-1', 'nonce');
    }
    if (!(ciphertext instanceof Uint8Array)) {
      throw new ProtocolError('INVALID_FIELD', 'ciphertext must be bytes', 'ciphertext');
    }
    if (ciphertext.length > MAX_NOISE_MESSAGE) {
      throw new ProtocolError('TOO_LARGE', `ciphertext over ${MAX_NOISE_MESSAGE} bytes`);
    }
    if (nonce <= this.lastReceived) {
      throw new ProtocolError(
        'REPLAY',
        `nonce ${nonce} not greater than last accepted ${this.lastReceived}`,
        nonce === this.lastReceived ? 'duplicate' : 'stale',
      );
    }
    if (ciphertext.length < TAG_LENGTH) {
      throw new ProtocolError('DECRYPT_FAILED', 'ciphertext shorter than the tag');
    }
    this.receive.setNonce(BigInt(nonce));
    const plaintext = this.receive.decryptWithAd(ad, ciphertext); // throws DECRYPT_FAILED
    this.lastReceived = nonce;
    return plaintext;
  }
}

const PAIR_CODE_LABEL = new TextEncoder().encode('precheck/pair/v1');

/**
 * Six-digit code both sides show after the XX pairing handshake. It is derived from the
 * handshake hash, so a man in the middle (who runs two handshakes with different hashes) makes
 * the two screens disagree with probability 1 - 10^-6.
 */
export function pairingCode(handshakeHash: Uint8Array): string {
  const digest = crypto.createHash('sha256').update(PAIR_CODE_LABEL).update(handshakeHash).digest();
  return String(digest.readUInt32BE(0) % 1_000_000).padStart(6, '0');
}
