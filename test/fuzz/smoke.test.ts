// The fuzz harness in the normal test suite, small: every decoder target (test/fuzz/targets.ts)
// gets a few thousand inputs from the harness's seeded PRNG (the same mutations `npm run fuzz`
// makes at 10^6) and must refuse each bad one with a typed error, never an untyped exception or a
// broken property. Time is not asserted here (a loaded CI machine is no place for it): the 10 ms
// bound is the long run's, reported in bench/REPORT.md. A finding is kept as a reproducer file and
// named in the failure (replay: npm run fuzz -- --replay FILE --only TARGET).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { fuzzTarget } from './run.ts';
import { allTargets, type FuzzTarget } from './targets.ts';

const SEED = 0x5eed;
// noise-responder does an X25519 handshake per input: fewer, still thousands
const INPUTS: Record<string, number> = { 'noise-responder': 1_000 };
const DEFAULT_INPUTS = 3_000;
const NAMES = ['cbor-message', 'cbor-inner', 'dataset-snapshot', 'dataset-delta', 'manifest', 'hid', 'ble', 'modbus-rtu', 'noise-responder', 'dispatcher'];

let targets: FuzzTarget[] = [];
let out: TempDir;
beforeAll(async () => {
  out = makeTempDir('precheck-fuzz-smoke-');
  targets = await allTargets(SEED);
}, 300_000);
afterAll(() => {
  for (const t of targets) t.close?.();
  out?.cleanup();
});

describe('fuzz smoke: every decoder, seeded', () => {
  it('covers every target of the harness', () => {
    expect(targets.map((t) => t.name).sort()).toEqual([...NAMES].sort());
  });

  for (const name of NAMES) {
    it(`${name}: no untyped exception, no broken property`, async () => {
      const t = targets.find((x) => x.name === name)!;
      const inputs = INPUTS[name] ?? DEFAULT_INPUTS;
      const r = await fuzzTarget(t, { inputs, seed: SEED, out: out.dir });
      expect(r.inputs).toBe(inputs);
      expect(r.untyped, `reproducers: ${r.reproducers.join(', ')}`).toBe(0);
      // the mutations reach both sides of the decoder
      expect(r.refused).toBeGreaterThan(0);
      expect(r.accepted + r.refused).toBe(inputs);
    }, 300_000);
  }
});
