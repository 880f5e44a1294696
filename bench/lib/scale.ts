// BENCH_SCALE: one knob for a quick run of the benchmarks that honour it (e.g. BENCH_SCALE=0.1
// for a smoke run of about a tenth of the work). Counts are scaled and rounded, never below
// `min`, so a quick run still measures something.

/** The BENCH_SCALE factor (default 1; anything not a positive number counts as 1). */
export function benchScale(): number {
  const v = Number(process.env.BENCH_SCALE ?? '1');
  return Number.isFinite(v) && v > 0 ? v : 1;
}

/** `n` times BENCH_SCALE, rounded, at least `min`. */
export function scaled(n: number, min = 1): number {
  return Math.max(min, Math.round(n * benchScale()));
}
