// The fuzz harness: `npm run fuzz -- [--inputs N] [--only a,b] [--seed S] [--out DIR]`, or
// `npm run fuzz -- --replay FILE --only TARGET` to re-run one kept input.
//
// For each decoder (test/fuzz/targets.ts) it feeds N inputs — 15% random bytes, the rest mutations
// of valid seeds (bit flips, CBOR-significant bytes, truncation, insertion, deletion, splices of
// another seed) — from a seeded PRNG, so a run is reproducible. It counts typed refusals,
// untyped exceptions and broken properties, and inputs that take over 10 ms: a slow input is timed
// twice more and counted only when all three runs are slow (this machine is shared; a GC pause or a
// busy neighbour must not count as a decoder bug). Every failing or slow input is kept as a
// reproducer file under --out (default fuzz-findings/), named by target and hash, with a .txt
// beside it saying why. Time is CPU time per input (process.cpuUsage), not wall time. Exit code 1 when any decoder has a finding. Not part of `npm test`
// (test/fuzz/smoke.test.ts runs a small count of it).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { allTargets, isTypedRefusal, type FuzzTarget } from './targets.ts';

export const SLOW_MS = 10;

export interface TargetReport {
  target: string;
  inputs: number;
  accepted: number;
  refused: number;
  untyped: number;
  slow: number;
  /** Slowest input, CPU milliseconds (the fastest of three runs when the first was over the bound). */
  maxMs: number;
  /** Slowest single run, wall milliseconds (includes waiting for the CPU on a busy machine). */
  maxWallMs: number;
  seconds: number;
  reproducers: string[];
}

/** xorshift128+ style generator from a 32-bit seed: fast and reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0 || 1;
  let b = (seed * 2654435761) >>> 0 || 2;
  return () => {
    let t = a ^ (a << 11);
    a = b;
    b = b ^ (b >>> 19) ^ (t ^ (t >>> 8));
    t = b >>> 0;
    return t / 4294967296;
  };
}

// CBOR heads with special meaning, framing command bytes, lengths at limits.
const INTERESTING = [0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x20, 0x3f, 0x40, 0x41, 0x5f, 0x60, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xbf, 0xc0, 0xd8, 0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfb, 0xfe, 0xff];

export function mutate(src: Uint8Array, corpus: Uint8Array[], rnd: () => number): Uint8Array {
  const int = (n: number) => Math.floor(rnd() * n);
  let b = Uint8Array.from(src);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length ? int(b.length) : 0;
    switch (int(8)) {
      case 0:
        if (b.length) b[at] ^= 1 << int(8);
        break;
      case 1:
        if (b.length) b[at] = INTERESTING[int(INTERESTING.length)];
        break;
      case 2:
        b = b.subarray(0, int(b.length + 1));
        break;
      case 3: {
        const ins = Uint8Array.from({ length: 1 + int(4) }, () => int(256));
        b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
        break;
      }
      case 4:
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + int(4))]);
        break;
      case 5: {
        const other = corpus[int(corpus.length)];
        b = Uint8Array.from([...b.subarray(0, at), ...other.subarray(int(other.length))]);
        break;
      }
      case 6:
        if (b.length) b[at] = int(256);
        break;
      case 7: // a 16-bit big-endian length-ish value at a limit
        if (b.length > 1) {
          const v = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff][int(7)];
          b[at] = v >> 8;
          b[(at + 1) % b.length] = v & 0xff;
        }
        break;
    }
  }
  return b;
}

/**
 * Runs one input. `ms` is the CPU time the process spent on it (user + system): on a shared,
 * overloaded machine wall time mostly measures the scheduler, not the decoder. `wallMs` beside it.
 */
async function timed(t: FuzzTarget, input: Uint8Array): Promise<{ ms: number; wallMs: number; error: unknown; accepted: boolean }> {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  let error: unknown = null;
  let accepted = false;
  try {
    accepted = (await t.run(input)) !== false;
  } catch (e) {
    error = e;
  }
  const used = process.cpuUsage(cpu);
  return { ms: (used.user + used.system) / 1000, wallMs: performance.now() - wall, error, accepted };
}

function keep(out: string, target: string, kind: string, input: Uint8Array, why: string): string {
  const dir = join(out, target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${kind}-${createHash('sha256').update(input).digest('hex').slice(0, 16)}.bin`);
  writeFileSync(file, input);
  writeFileSync(`${file}.txt`, `${why}\nreplay: npm run fuzz -- --replay ${file} --only ${target}\n`);
  return file;
}

export async function fuzzTarget(t: FuzzTarget, o: { inputs: number; seed: number; out: string; onProgress?: (done: number) => void }): Promise<TargetReport> {
  const rnd = prng(o.seed ^ [...t.name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7));
  const rep: TargetReport = { target: t.name, inputs: 0, accepted: 0, refused: 0, untyped: 0, slow: 0, maxMs: 0, maxWallMs: 0, seconds: 0, reproducers: [] };
  const began = performance.now();
  for (let i = 0; i < o.inputs; i++) {
    const input =
      rnd() < 0.15 || t.seeds.length === 0
        ? Uint8Array.from({ length: Math.floor(rnd() * (t.maxRandomLength + 1)) }, () => Math.floor(rnd() * 256))
        : mutate(t.seeds[Math.floor(rnd() * t.seeds.length)], t.seeds, rnd);
    const r = await timed(t, input);
    rep.inputs++;
    rep.maxWallMs = Math.max(rep.maxWallMs, r.wallMs);
    if (r.error === null && r.accepted) rep.accepted++;
    else if (r.error === null || isTypedRefusal(r.error)) rep.refused++;
    else {
      rep.untyped++;
      const e = r.error as Error;
      if (rep.reproducers.length < 50) rep.reproducers.push(keep(o.out, t.name, 'untyped', input, `${e?.name}: ${e?.message}\n${e?.stack ?? ''}`));
    }
    if (r.ms > SLOW_MS) {
      const again = [await timed(t, input), await timed(t, input)];
      const min = Math.min(r.ms, ...again.map((x) => x.ms));
      if (min > SLOW_MS) {
        rep.slow++;
        if (rep.reproducers.length < 50) rep.reproducers.push(keep(o.out, t.name, 'slow', input, `over ${SLOW_MS} ms on three runs (fastest ${min.toFixed(1)} ms of CPU)`));
      }
      rep.maxMs = Math.max(rep.maxMs, min);
    } else rep.maxMs = Math.max(rep.maxMs, r.ms);
    if (o.onProgress && (i + 1) % 100_000 === 0) o.onProgress(i + 1);
  }
  rep.seconds = (performance.now() - began) / 1000;
  return rep;
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const inputs = Number(arg(argv, 'inputs') ?? 100_000);
  const seed = Number(arg(argv, 'seed') ?? 0x5eed);
  const out = resolve(arg(argv, 'out') ?? 'fuzz-findings');
  const only = arg(argv, 'only')?.split(',');
  const replay = arg(argv, 'replay');
  if (!Number.isInteger(inputs) || inputs < 1) throw new Error('--inputs must be a positive integer');
  const targets = await allTargets(seed);
  const chosen = only ? targets.filter((t) => only.includes(t.name)) : targets;
  if (only && chosen.length !== only.length) throw new Error(`unknown target; choose from ${targets.map((t) => t.name).join(', ')}`);
  try {
    if (replay) {
      const input = new Uint8Array(readFileSync(replay));
      for (const t of chosen) {
        const r = await timed(t, input);
        console.log(`${t.name}: ${r.error === null ? (r.accepted ? 'accepted' : 'refused (typed)') : isTypedRefusal(r.error) ? `refused (${(r.error as Error).message})` : `UNTYPED ${(r.error as Error)?.stack ?? String(r.error)}`} in ${r.ms.toFixed(2)} ms`);
      }
      return 0;
    }
    console.log(`fuzz: ${inputs} inputs per decoder, seed ${seed}, findings under ${out}`);
    const reports: TargetReport[] = [];
    for (const t of chosen) {
      const r = await fuzzTarget(t, { inputs, seed, out, onProgress: (n) => console.error(`  ${t.name}: ${n}`) });
      reports.push(r);
      console.log(
        `${r.target.padEnd(17)} inputs ${r.inputs}  accepted ${r.accepted}  refused (typed) ${r.refused}  untyped ${r.untyped}  over ${SLOW_MS} ms ${r.slow}  max ${r.maxMs.toFixed(2)} ms CPU (${r.maxWallMs.toFixed(0)} ms wall)  ${(r.inputs / r.seconds).toFixed(0)}/s  ${r.seconds.toFixed(0)} s`,
      );
      for (const f of r.reproducers) console.log(`  kept ${f}`);
    }
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'summary.json'), JSON.stringify({ seed, inputsPerDecoder: inputs, at: new Date().toISOString(), node: process.version, reports }, null, 2));
    const bad = reports.filter((r) => r.untyped > 0 || r.slow > 0);
    console.log(bad.length === 0 ? 'fuzz: no findings' : `fuzz: findings in ${bad.map((r) => r.target).join(', ')}`);
    return bad.length === 0 ? 0 : 1;
  } finally {
    for (const t of targets) t.close?.();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`fuzz: ${(e as Error).message}`);
      process.exit(2);
    },
  );
}
