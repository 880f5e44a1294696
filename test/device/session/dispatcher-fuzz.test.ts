// Whatever bytes arrive, the dispatcher answers with a well-formed message (an ERROR for garbage)
// and keeps serving: property test over random and mutated messages.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../../protocol/messages/index.ts';
import { SessionInitiator, generateStaticKeyPair } from '../../../protocol/secure/index.ts';
import { DriverConnection } from '../../../device/links/connection.ts';
import { SessionDispatcher } from '../../../device/session/dispatcher.ts';
import { stubCore } from './stub-core.ts';

describe('SessionDispatcher under hostile input', () => {
  it('answers every random byte string with a decodable message and never rejects', async () => {
    const core = stubCore();
    const d = new SessionDispatcher({ core, confirmPairing: async () => false });
    const conn = new DriverConnection('fuzz:1', 'hid-cable');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const answer = await d.handle(bytes, conn);
        const m = decodeMessage(answer);
        expect(['ERROR', 'INFO_RES', 'STATUS_RES', 'PAIR_RESP', 'PAIR_STATUS', 'SESSION_RESP', 'SECURE_RES']).toContain(m.type);
      }),
      { numRuns: 500 },
    );
    d.close();
  });

  it('mutated SECURE messages in a live session are refused and the session keeps working', async () => {
    const core = stubCore();
    const host = generateStaticKeyPair();
    core.pairedHosts.add(host.publicKey);
    const d = new SessionDispatcher({ core, confirmPairing: async () => false });
    const conn = new DriverConnection('fuzz:2', 'hid-cable');
    const si = new SessionInitiator({ staticKeyPair: host, deviceStatic: core.keys.publicKey });
    const resp = decodeMessage(await d.handle(encodeMessage({ type: 'SESSION_INIT', id: 1, noise: si.init() }), conn));
    if (resp.type !== 'SESSION_RESP') throw new Error('no session');
    const ch = si.finish(resp.noise).channel;
    let id = 10;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 7 }), async (pos, bit) => {
        const good = ch.seal(encodeMessage({ type: 'STATUS_REQ', id: ++id }));
        const ct = Uint8Array.from(good.ciphertext);
        ct[pos % ct.length] ^= 1 << bit;
        const bad = decodeMessage(await d.handle(encodeMessage({ type: 'SECURE', id, nonce: good.nonce, ciphertext: ct }), conn));
        expect(bad).toMatchObject({ type: 'ERROR', code: 0x24 });
        // the genuine message with the same nonce is still accepted afterwards
        const ok = decodeMessage(await d.handle(encodeMessage({ type: 'SECURE', id, ...good }), conn));
        if (ok.type !== 'SECURE_RES') throw new Error(`expected SECURE_RES, got ${ok.type}`);
        expect(decodeMessage(ch.open(ok))).toMatchObject({ type: 'STATUS_RES', id });
      }),
      { numRuns: 100 },
    );
    d.close();
  });
});
