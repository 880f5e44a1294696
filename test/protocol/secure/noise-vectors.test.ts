// Runs every published Noise vector (cacophony format) through both roles and checks each
// ciphertext byte for byte, each decrypted payload, the handshake hash, and the transport
// messages after the handshake. The file is required: a missing file fails the suite.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HandshakeState, type TransportPair } from '../../../protocol/secure/noise-handshake.ts';
import { parseProtocolName } from '../../../protocol/secure/noise-patterns.ts';
import { keyPairFromPrivate } from '../../../protocol/secure/x25519.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const vectorsPath = path.resolve(repoRoot, 'test/vectors/noise-cacophony.json');

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_psks?: string[];
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_psks?: string[];
  resp_static?: string;
  resp_ephemeral?: string;
  resp_remote_static?: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

// Read at collection time so a missing or unreadable file fails loudly rather than skipping.
const raw = fs.readFileSync(vectorsPath, 'utf8');
const vectors = (JSON.parse(raw) as { vectors: Vector[] }).vectors;

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const opt = (s: string | undefined) => (s === undefined ? undefined : hex(s));

describe('Noise test vectors (cacophony)', () => {
  it('has the vector file with every suite the project supports', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(16);
    const names = new Set(vectors.map((v) => v.protocol_name));
    for (const p of ['NN', 'KK', 'IK', 'XX', 'NNpsk0', 'XXpsk3', 'KKpsk0', 'IKpsk2']) {
      for (const c of ['AESGCM', 'ChaChaPoly']) {
        expect(names.has(`Noise_${p}_25519_${c}_SHA256`)).toBe(true);
      }
    }
  });

  for (const [i, v] of vectors.entries()) {
    it(`#${i} ${v.protocol_name}`, () => {
      const handshakeLength = parseProtocolName(v.protocol_name).pattern.messages.length;
      const initiator = new HandshakeState({
        protocolName: v.protocol_name,
        initiator: true,
        prologue: hex(v.init_prologue),
        s: v.init_static ? keyPairFromPrivate(hex(v.init_static)) : undefined,
        e: keyPairFromPrivate(hex(v.init_ephemeral)),
        rs: opt(v.init_remote_static),
        psks: v.init_psks?.map(hex),
      });
      const responder = new HandshakeState({
        protocolName: v.protocol_name,
        initiator: false,
        prologue: hex(v.resp_prologue),
        s: v.resp_static ? keyPairFromPrivate(hex(v.resp_static)) : undefined,
        e: v.resp_ephemeral ? keyPairFromPrivate(hex(v.resp_ephemeral)) : undefined,
        rs: opt(v.resp_remote_static),
        psks: v.resp_psks?.map(hex),
      });

      let iT: TransportPair | null = null;
      let rT: TransportPair | null = null;
      for (const [m, msg] of v.messages.entries()) {
        const fromInitiator = m % 2 === 0;
        const payload = hex(msg.payload);
        let ct: Uint8Array;
        let pt: Uint8Array;
        if (m < handshakeLength) {
          const [w, r] = fromInitiator ? [initiator, responder] : [responder, initiator];
          ct = w.writeMessage(payload);
          pt = r.readMessage(ct);
          if (m === handshakeLength - 1) {
            expect(initiator.isComplete && responder.isComplete).toBe(true);
            expect(toHex(initiator.handshakeHash())).toBe(v.handshake_hash);
            expect(toHex(responder.handshakeHash())).toBe(v.handshake_hash);
            iT = initiator.transportStates();
            rT = responder.transportStates();
          }
        } else {
          const [w, r] = fromInitiator ? [iT!, rT!] : [rT!, iT!];
          ct = w.send.encryptWithAd(new Uint8Array(0), payload);
          pt = r.receive.decryptWithAd(new Uint8Array(0), ct);
        }
        expect(toHex(ct), `message ${m} ciphertext`).toBe(msg.ciphertext);
        expect(toHex(pt), `message ${m} payload`).toBe(msg.payload);
      }
      expect(iT).not.toBeNull();
      expect(v.messages.length).toBeGreaterThan(handshakeLength);
    });
  }
});
