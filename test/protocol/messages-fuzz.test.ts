// Fuzz: 20,000 random and mutated byte strings into both decoders. Each input must either decode
// to a valid message, which then re-encodes to exactly the input bytes (the accepted encoding is
// canonical), or throw a ProtocolError. Nothing else may escape. Seeded, so a failure reproduces:
// FUZZ_SEED=<n> npx vitest run test/protocol/messages-fuzz.test.ts

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CBOR_X_REJECTED } from '../../protocol/cbor.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { decodeInner, decodeMessage, encodeMessage, type Message } from '../../protocol/messages/index.ts';
import { mulberry32 as prng } from '../../server/routing/rng.ts'; // seeded, so the fuzz corpus is reproducible without storing it
import { anyMessageArb } from './messages-arbitraries.ts';
import { mutate } from '../fuzz/run.ts'; // the fuzz harness's mutations (bit flips, CBOR heads, truncation, splices, ...)

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const TOTAL = 20_000;

describe('message decoder fuzz', () => {
  it(`${TOTAL} random and mutated inputs: valid message or ProtocolError, nothing else`, () => {
    const rnd = prng(SEED);
    const corpus = fc.sample(anyMessageArb, { numRuns: 400, seed: SEED }).flatMap((m) => {
      try {
        return [encodeMessage(m)];
      } catch {
        return []; // over 8192 bytes: not a valid seed
      }
    });
    expect(corpus.length).toBeGreaterThan(300);

    const stats = { decoded: 0, rejected: 0, codes: new Map<string, number>() };
    const check = (input: Uint8Array, decode: (b: Uint8Array) => Message) => {
      let m: Message;
      try {
        m = decode(input);
      } catch (e) {
        if (!(e instanceof ProtocolError)) {
          throw new Error(`non-ProtocolError escaped for input ${Buffer.from(input).toString('hex')} (seed ${SEED}): ${String(e)}`);
        }
        // INTERNAL would be a bug of ours wrapped by the codec; CBOR_X_REJECTED a gap in the pre-scan.
        if (e.code === 'INTERNAL' || e.detail === CBOR_X_REJECTED) {
          throw new Error(`${e.code} (${e.message}) for input ${Buffer.from(input).toString('hex')} (seed ${SEED})`);
        }
        stats.rejected++;
        stats.codes.set(e.code, (stats.codes.get(e.code) ?? 0) + 1);
        return;
      }
      stats.decoded++;
      expect(Buffer.from(encodeMessage(m)).toString('hex')).toBe(Buffer.from(input).toString('hex'));
    };

    for (let i = 0; i < TOTAL; i++) {
      let input: Uint8Array;
      const kind = rnd();
      if (kind < 0.2) {
        input = Uint8Array.from({ length: Math.floor(rnd() * 48) }, () => Math.floor(rnd() * 256));
      } else if (kind < 0.25) {
        // random bytes behind a plausible map head, to get past the first byte more often
        input = Uint8Array.from([0xa0 + Math.floor(rnd() * 8), 0x00, ...Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256))]);
      } else {
        input = mutate(corpus[Math.floor(rnd() * corpus.length)], corpus, rnd);
      }
      check(input, decodeMessage);
      check(input, decodeInner);
    }

    // The fuzzer reached both outcomes and several distinct rejection paths.
    expect(stats.decoded).toBeGreaterThan(500);
    expect(stats.rejected).toBeGreaterThan(10_000);
    for (const code of ['MALFORMED', 'INVALID_FIELD', 'UNKNOWN_MESSAGE', 'NO_SESSION']) {
      expect(stats.codes.get(code) ?? 0, code).toBeGreaterThan(0);
    }
  });
});
