import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AESGCM, CHACHAPOLY, CipherState } from '../../../protocol/secure/noise-cipher.ts';
import { HandshakeState } from '../../../protocol/secure/noise-handshake.ts';
import { handshakePattern, parseProtocolName } from '../../../protocol/secure/noise-patterns.ts';
import { hkdf2, hkdf3 } from '../../../protocol/secure/noise-symmetric.ts';
import {
  dh,
  generateKeyPair,
  privateKeyFromRaw,
  publicKeyFromRaw,
  rawPrivateKey,
  rawPublicKey,
} from '../../../protocol/secure/x25519.ts';
import { expectProtocolError } from './helpers.ts';

describe('X25519 raw key helpers', () => {
  it('round-trips raw keys through KeyObjects and agrees with node key generation', () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('x25519');
    const rawPriv = rawPrivateKey(privateKey);
    const rawPub = rawPublicKey(publicKey);
    expect(rawPriv).toHaveLength(32);
    expect(rawPub).toHaveLength(32);
    expect(Buffer.from(rawPublicKey(privateKeyFromRaw(rawPriv))).equals(rawPub)).toBe(true);
    expect(Buffer.from(rawPublicKey(publicKeyFromRaw(rawPub))).equals(rawPub)).toBe(true);
    // JWK gives the same raw bytes (an independent encoding path).
    const jwk = publicKey.export({ format: 'jwk' });
    expect(Buffer.from(jwk.x!, 'base64url').equals(rawPub)).toBe(true);
  });

  it('computes the RFC 7748 section 6.1 keys and shared secret', () => {
    const a = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
    const aPub = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
    const b = Buffer.from('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', 'hex');
    const bPub = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(Buffer.from(rawPublicKey(privateKeyFromRaw(a))).toString('hex')).toBe(aPub);
    expect(Buffer.from(dh(a, Buffer.from(bPub, 'hex'))).toString('hex')).toBe(shared);
    expect(Buffer.from(dh(b, Buffer.from(aPub, 'hex'))).toString('hex')).toBe(shared);
  });

  it('refuses a low-order peer point and wrong key lengths with typed errors', () => {
    const { privateKey } = generateKeyPair();
    expectProtocolError(() => dh(privateKey, new Uint8Array(32)), 'HANDSHAKE_FAILED');
    expectProtocolError(() => privateKeyFromRaw(new Uint8Array(31)), 'INVALID_FIELD');
    expectProtocolError(() => publicKeyFromRaw(new Uint8Array(33)), 'INVALID_FIELD');
  });
});

describe('Noise primitives', () => {
  it("HKDF is Noise's HMAC chain", () => {
    const ck = crypto.randomBytes(32);
    const ikm = crypto.randomBytes(32);
    const mac = (k: Uint8Array, d: Uint8Array) => crypto.createHmac('sha256', k).update(d).digest();
    const temp = mac(ck, ikm);
    const o1 = mac(temp, Buffer.of(1));
    const o2 = mac(temp, Buffer.concat([o1, Buffer.of(2)]));
    const o3 = mac(temp, Buffer.concat([o2, Buffer.of(3)]));
    const [a1, a2] = hkdf2(ck, ikm);
    const [b1, b2, b3] = hkdf3(ck, ikm);
    expect([a1, a2, b1, b2, b3].map((x) => Buffer.from(x).toString('hex'))).toEqual(
      [o1, o2, o1, o2, o3].map((x) => x.toString('hex')),
    );
  });

  it('lays out nonces as Noise says: AES-GCM big-endian, ChaChaPoly little-endian', () => {
    const k = crypto.randomBytes(32);
    const n = 0x0102030405060708n;
    const pt = Buffer.from('nonce layout');
    const gcmNonce = Buffer.from('000000000102030405060708', 'hex');
    const c1 = crypto.createCipheriv('aes-256-gcm', k, gcmNonce);
    const expGcm = Buffer.concat([c1.update(pt), c1.final(), c1.getAuthTag()]);
    expect(Buffer.from(AESGCM.encrypt(k, n, new Uint8Array(0), pt)).equals(expGcm)).toBe(true);
    const chachaNonce = Buffer.from('000000000807060504030201', 'hex');
    const c2 = crypto.createCipheriv('chacha20-poly1305', k, chachaNonce, { authTagLength: 16 });
    const expChacha = Buffer.concat([c2.update(pt), c2.final(), c2.getAuthTag()]);
    expect(Buffer.from(CHACHAPOLY.encrypt(k, n, new Uint8Array(0), pt)).equals(expChacha)).toBe(true);
  });

  it('CipherState does not advance on an authentication failure, and rekeys', () => {
    const k = crypto.randomBytes(32);
    const tx = new CipherState(CHACHAPOLY, k);
    const rx = new CipherState(CHACHAPOLY, k);
    const c0 = tx.encryptWithAd(new Uint8Array(0), Buffer.from('zero'));
    const bad = Uint8Array.from(c0);
    bad[0] ^= 1;
    expectProtocolError(() => rx.decryptWithAd(new Uint8Array(0), bad), 'DECRYPT_FAILED');
    expect(rx.nonce).toBe(0n);
    expect(Buffer.from(rx.decryptWithAd(new Uint8Array(0), c0)).toString()).toBe('zero');
    tx.rekey();
    rx.rekey();
    const c1 = tx.encryptWithAd(new Uint8Array(0), Buffer.from('one'));
    expect(Buffer.from(rx.decryptWithAd(new Uint8Array(0), c1)).toString()).toBe('one');
    const stale = new CipherState(CHACHAPOLY, k);
    stale.setNonce(1n);
    expectProtocolError(() => stale.decryptWithAd(new Uint8Array(0), c1), 'DECRYPT_FAILED');
    expectProtocolError(() => stale.setNonce(2n ** 64n - 1n), 'INVALID_FIELD');
  });

  it('builds psk pattern variants and refuses unsupported names', () => {
    expect(handshakePattern('NNpsk0').messages).toEqual([['psk', 'e'], ['e', 'ee']]);
    expect(handshakePattern('XXpsk3').messages[2]).toEqual(['s', 'se', 'psk']);
    expect(handshakePattern('IKpsk2').messages[1]).toEqual(['e', 'ee', 'se', 'psk']);
    expect(handshakePattern('KKpsk0').messages[0]).toEqual(['psk', 'e', 'es', 'ss']);
    for (const bad of ['Noise_ZZ_25519_AESGCM_SHA256', 'Noise_XX_448_AESGCM_SHA256', 'Noise_XX_25519_AESGCM_BLAKE2s', 'XX', 'Noise_XXpsk9_25519_AESGCM_SHA256']) {
      expectProtocolError(() => parseProtocolName(bad), 'UNSUPPORTED');
    }
  });

  it('checks required keys and psk counts up front', () => {
    expectProtocolError(
      () => new HandshakeState({ protocolName: 'Noise_KK_25519_ChaChaPoly_SHA256', initiator: true, s: generateKeyPair() }),
      'INVALID_FIELD',
    );
    expectProtocolError(
      () => new HandshakeState({ protocolName: 'Noise_NNpsk0_25519_ChaChaPoly_SHA256', initiator: true }),
      'INVALID_FIELD',
    );
  });

  it('refuses oversized handshake messages', () => {
    const r = new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_SHA256', initiator: false });
    expectProtocolError(() => r.readMessage(new Uint8Array(65536)), 'TOO_LARGE');
    const i = new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_SHA256', initiator: true });
    expectProtocolError(() => i.writeMessage(new Uint8Array(65535)), 'TOO_LARGE');
  });
});
