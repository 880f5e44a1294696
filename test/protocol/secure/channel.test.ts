import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_CHANNEL_NONCE,
  SessionInitiator,
  SessionResponder,
  generateStaticKeyPair,
  type SecureChannel,
} from '../../../protocol/secure/index.ts';
import { expectProtocolError, text, utf8 } from './helpers.ts';

function channels(): { host: SecureChannel; device: SecureChannel } {
  const host = generateStaticKeyPair();
  const device = generateStaticKeyPair();
  const hi = new SessionInitiator({ staticKeyPair: host, deviceStatic: device.publicKey });
  const dr = new SessionResponder({ staticKeyPair: device, pairedHosts: () => [host.publicKey] });
  const h = hi.finish(dr.respond(hi.init()));
  return { host: h.channel, device: dr.result.channel };
}

describe('SecureChannel (explicit nonces)', () => {
  it('numbers messages 0, 1, 2... and round-trips them', () => {
    const { host, device } = channels();
    for (let i = 0; i < 4; i++) {
      const m = host.seal(utf8(`m${i}`));
      expect(m.nonce).toBe(i);
      expect(m.ciphertext.length).toBe(2 + 16);
      expect(text(device.open(m))).toBe(`m${i}`);
      expect(device.lastReceivedNonce).toBe(i);
    }
    expect(host.nextSendNonce).toBe(4);
  });

  it('refuses a replay (duplicate) and keeps working', () => {
    const { host, device } = channels();
    const m0 = host.seal(utf8('pay 10.00'));
    expect(text(device.open(m0))).toBe('pay 10.00');
    const e = expectProtocolError(() => device.open(m0), 'REPLAY');
    expect(e.detail).toBe('duplicate');
    expect(text(device.open(host.seal(utf8('next'))))).toBe('next');
  });

  it('refuses an older message after a newer one (reorder), then keeps working', () => {
    const { host, device } = channels();
    const a = host.seal(utf8('a'));
    const b = host.seal(utf8('b'));
    expect(text(device.open(b))).toBe('b');
    expect(expectProtocolError(() => device.open(a), 'REPLAY').detail).toBe('stale');
    expect(text(device.open(host.seal(utf8('c'))))).toBe('c');
  });

  it('survives lost messages: a gap in nonces is fine', () => {
    const { host, device } = channels();
    host.seal(utf8('lost 1'));
    host.seal(utf8('lost 2'));
    const m = host.seal(utf8('arrives'));
    expect(m.nonce).toBe(2);
    expect(text(device.open(m))).toBe('arrives');
  });

  it('refuses tampered ciphertext, tag or nonce without advancing', () => {
    const { host, device } = channels();
    const m = host.seal(utf8('approve order 42'));
    const flipBody = Uint8Array.from(m.ciphertext);
    flipBody[0] ^= 1;
    expectProtocolError(() => device.open({ nonce: m.nonce, ciphertext: flipBody }), 'DECRYPT_FAILED');
    const flipTag = Uint8Array.from(m.ciphertext);
    flipTag[flipTag.length - 1] ^= 1;
    expectProtocolError(() => device.open({ nonce: m.nonce, ciphertext: flipTag }), 'DECRYPT_FAILED');
    // Same ciphertext presented under a higher nonce: the nonce is authenticated too.
    expectProtocolError(() => device.open({ nonce: m.nonce + 1, ciphertext: m.ciphertext }), 'DECRYPT_FAILED');
    expect(device.lastReceivedNonce).toBe(-1);
    // The genuine message still opens: failures did not move the window.
    expect(text(device.open(m))).toBe('approve order 42');
  });

  it('refuses truncated ciphertexts (short of a tag, or cut) and keeps working', () => {
    const { host, device } = channels();
    const m = host.seal(utf8('hello device'));
    expectProtocolError(() => device.open({ nonce: m.nonce, ciphertext: m.ciphertext.subarray(0, 15) }), 'DECRYPT_FAILED');
    expectProtocolError(() => device.open({ nonce: m.nonce, ciphertext: new Uint8Array(0) }), 'DECRYPT_FAILED');
    expectProtocolError(
      () => device.open({ nonce: m.nonce, ciphertext: m.ciphertext.subarray(0, m.ciphertext.length - 1) }),
      'DECRYPT_FAILED',
    );
    expect(text(device.open(m))).toBe('hello device');
  });

  it('validates the envelope fields', () => {
    const { host, device } = channels();
    const m = host.seal(utf8('x'));
    for (const nonce of [-1, 1.5, Number.NaN, MAX_CHANNEL_NONCE + 1, 2 ** 64]) {
      expectProtocolError(() => device.open({ nonce, ciphertext: m.ciphertext }), 'INVALID_FIELD');
    }
    expectProtocolError(() => device.open({ nonce: 0, ciphertext: 'abc' as never }), 'INVALID_FIELD');
    expectProtocolError(() => device.open(null as never), 'INVALID_FIELD');
    expectProtocolError(() => device.open({ nonce: 0, ciphertext: new Uint8Array(70000) }), 'TOO_LARGE');
    expectProtocolError(() => host.seal(new Uint8Array(65535)), 'TOO_LARGE');
    // The largest nonce is accepted (and then everything else is a replay).
    expectProtocolError(() => device.open({ nonce: MAX_CHANNEL_NONCE, ciphertext: m.ciphertext }), 'DECRYPT_FAILED');
    expect(text(device.open(m))).toBe('x');
  });

  it('property: any in-order sequence of seal/open in both directions round-trips', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            fromHost: fc.boolean(),
            body: fc.uint8Array({ maxLength: 300 }),
            // messages lost in transit before this one (the sender sealed and nobody opened)
            lostBefore: fc.nat({ max: 2 }),
          }),
          { maxLength: 25 },
        ),
        (steps) => {
          const { host, device } = channels();
          for (const s of steps) {
            const [tx, rx] = s.fromHost ? [host, device] : [device, host];
            for (let i = 0; i < s.lostBefore; i++) tx.seal(utf8('lost'));
            const sealed = tx.seal(s.body);
            const opened = rx.open(sealed);
            expect(Buffer.from(opened).equals(Buffer.from(s.body))).toBe(true);
            expect(rx.lastReceivedNonce).toBe(sealed.nonce);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('property: after any run, a replay of any earlier message is refused', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 10 }), fc.nat(), (bodies, pick) => {
        const { host, device } = channels();
        const sent = bodies.map((b) => host.seal(b));
        for (const m of sent) device.open(m);
        const old = sent[pick % sent.length];
        expectProtocolError(() => device.open(old), 'REPLAY');
      }),
      { numRuns: 30 },
    );
  });
});
