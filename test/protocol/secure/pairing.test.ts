import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  PairingInitiator,
  PairingResponder,
  generateStaticKeyPair,
  pairingCode,
} from '../../../protocol/secure/index.ts';
import { expectProtocolError, text, utf8 } from './helpers.ts';

function pair() {
  const host = generateStaticKeyPair();
  const device = generateStaticKeyPair();
  const hi = new PairingInitiator({ staticKeyPair: host });
  const dr = new PairingResponder({ staticKeyPair: device });
  const msg1 = hi.init();
  const msg2 = dr.respond(msg1, utf8('device:PC-0001'));
  const msg3 = hi.finish(msg2, utf8('host:shop-till-1'));
  const dres = dr.complete(msg3);
  return { host, device, hres: hi.result, dres, msg1, msg2, msg3 };
}

describe('pairing (Noise XX)', () => {
  it('gives both sides the same code, the peer keys and payloads', () => {
    const { host, device, hres, dres, msg1, msg2, msg3 } = pair();
    expect(hres.code).toMatch(/^\d{6}$/);
    expect(hres.code).toBe(dres.code);
    expect(Buffer.from(hres.handshakeHash).equals(dres.handshakeHash)).toBe(true);
    expect(Buffer.from(hres.remoteStatic).equals(device.publicKey)).toBe(true);
    expect(Buffer.from(dres.remoteStatic).equals(host.publicKey)).toBe(true);
    expect(text(hres.remotePayload)).toBe('device:PC-0001');
    expect(text(dres.remotePayload)).toBe('host:shop-till-1');
    // XX sizes: e | e, enc(s), enc(payload) | enc(s), enc(payload)
    expect(msg1.length).toBe(32);
    expect(msg2.length).toBe(32 + 48 + 'device:PC-0001'.length + 16);
    expect(msg3.length).toBe(48 + 'host:shop-till-1'.length + 16);
    // Static keys never travel in clear.
    expect(Buffer.from(msg2).includes(Buffer.from(device.publicKey))).toBe(false);
    expect(Buffer.from(msg3).includes(Buffer.from(host.publicKey))).toBe(false);
  });

  it('yields channels that work both ways', () => {
    const { hres, dres } = pair();
    const req = hres.channel.seal(utf8('verify please'));
    expect(text(dres.channel.open(req))).toBe('verify please');
    const res = dres.channel.seal(utf8('approve'));
    expect(text(hres.channel.open(res))).toBe('approve');
    // Direction keys differ: a host message cannot be reflected back to the host.
    const again = hres.channel.seal(utf8('x'));
    expectProtocolError(() => hres.channel.open({ nonce: 5, ciphertext: again.ciphertext }), 'DECRYPT_FAILED');
  });

  it('gives different codes to two sides of a man in the middle', () => {
    const host = generateStaticKeyPair();
    const device = generateStaticKeyPair();
    const mitm = generateStaticKeyPair();
    // host <-> mitm (as responder), mitm (as initiator) <-> device
    const hi = new PairingInitiator({ staticKeyPair: host });
    const mr = new PairingResponder({ staticKeyPair: mitm });
    const mi = new PairingInitiator({ staticKeyPair: mitm });
    const dr = new PairingResponder({ staticKeyPair: device });
    const hostSide = mr.complete(hi.finish(mr.respond(hi.init())));
    const deviceSide = dr.complete(mi.finish(dr.respond(mi.init())));
    expect(hi.result.code).toBe(hostSide.code);
    expect(hi.result.code).not.toBe(deviceSide.code);
  });

  it('derives the code as SHA-256("precheck/pair/v1" || h) first 4 bytes BE mod 10^6', () => {
    const h = new Uint8Array(32).fill(7);
    const d = crypto.createHash('sha256').update('precheck/pair/v1').update(h).digest();
    expect(pairingCode(h)).toBe(String(d.readUInt32BE(0) % 1e6).padStart(6, '0'));
    // zero padding: find a hash whose code starts with 0
    let found = false;
    for (let i = 0; i < 5000 && !found; i++) {
      const hh = crypto.createHash('sha256').update(String(i)).digest();
      const v = crypto.createHash('sha256').update('precheck/pair/v1').update(hh).digest().readUInt32BE(0) % 1e6;
      if (v < 100000) {
        expect(pairingCode(hh)).toHaveLength(6);
        expect(Number(pairingCode(hh))).toBe(v);
        found = true;
      }
    }
    expect(found).toBe(true);
  });

  it('refuses tampered or truncated handshake messages with typed errors', () => {
    const host = generateStaticKeyPair();
    const device = generateStaticKeyPair();
    const hi = new PairingInitiator({ staticKeyPair: host });
    const dr = new PairingResponder({ staticKeyPair: device });
    const msg2 = dr.respond(hi.init());
    const bad = Uint8Array.from(msg2);
    bad[40] ^= 1; // inside the encrypted static key
    expectProtocolError(() => hi.finish(bad), 'HANDSHAKE_FAILED');
    // A failed handshake stays failed: the genuine message is no longer accepted either.
    expectProtocolError(() => hi.finish(msg2), 'HANDSHAKE_FAILED');
    expectProtocolError(() => hi.result, 'NO_SESSION');

    const dr2 = new PairingResponder({ staticKeyPair: device });
    expectProtocolError(() => dr2.respond(new Uint8Array(10)), 'MALFORMED');

    const hi3 = new PairingInitiator({ staticKeyPair: host });
    const dr3 = new PairingResponder({ staticKeyPair: device });
    const m2 = dr3.respond(hi3.init());
    const m3 = hi3.finish(m2);
    expectProtocolError(() => dr3.complete(m3.subarray(0, m3.length - 1)), 'MALFORMED');

    // Truncation that still leaves a whole tag: the tag no longer authenticates.
    const hi4 = new PairingInitiator({ staticKeyPair: host });
    const dr4 = new PairingResponder({ staticKeyPair: device });
    const m4 = hi4.finish(dr4.respond(hi4.init()), utf8('a payload of some length'));
    expectProtocolError(() => dr4.complete(m4.subarray(0, m4.length - 4)), 'HANDSHAKE_FAILED');
  });

  it('refuses a msg1 carrying a cleartext payload and out-of-turn calls', () => {
    const dr = new PairingResponder({ staticKeyPair: generateStaticKeyPair() });
    const withPayload = new Uint8Array(40);
    crypto.randomFillSync(withPayload, 0, 32);
    expectProtocolError(() => dr.respond(withPayload), 'HANDSHAKE_FAILED');
    const hi = new PairingInitiator({ staticKeyPair: generateStaticKeyPair() });
    hi.init();
    expectProtocolError(() => hi.init(), 'HANDSHAKE_FAILED');
  });
});
