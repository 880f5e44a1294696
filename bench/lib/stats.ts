// Small statistics and timing helpers shared by the benchmarks: median/p99 over repeated samples,
// batch timing with warm-up, and markdown formatting. Percentiles use the nearest-rank method
// (no interpolation), so p99 is always a value that was actually measured.

export interface Summary {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile, p in [0, 100]. Returns NaN for no samples. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function p99(values: readonly number[]): number {
  return percentile(values, 99);
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    // A loop, not Math.min(...values): a 15 s load run on a fast route has >10^5 samples, past
    // the call stack's argument limit.
    min: n ? values.reduce((a, b) => (b < a ? b : a), Infinity) : NaN,
    median: median(values),
    p99: p99(values),
    max: n ? values.reduce((a, b) => (b > a ? b : a), -Infinity) : NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : NaN,
  };
}

export interface BatchTiming {
  /** Duration of each measured batch, in nanoseconds. */
  batchNs: number[];
  opsPerBatch: number;
  /** Operations per second at the median batch duration. */
  medianOpsPerSec: number;
  /** Operations per second at the p99 (slow-tail) batch duration. */
  p99OpsPerSec: number;
  /** Per-operation time at the median and p99 batch, in nanoseconds. */
  medianNsPerOp: number;
  p99NsPerOp: number;
}

export interface TimeBatchesOptions {
  /** Measured batches (default 50). */
  batches?: number;
  /** Unmeasured batches first, so the JIT has compiled the code under test (default 5). */
  warmup?: number;
  /** Operations per batch; by default calibrated so a batch takes about `targetBatchMs`. */
  opsPerBatch?: number;
  targetBatchMs?: number;
}

/**
 * Time `op` in batches: each batch runs it `opsPerBatch` times and is timed with the monotonic
 * high-resolution clock. Batching keeps clock overhead out of sub-microsecond operations; the
 * spread between batches (median vs p99) shows GC pauses and scheduler noise.
 */
export function timeBatches(op: (i: number) => void, opts: TimeBatchesOptions = {}): BatchTiming {
  const batches = opts.batches ?? 50;
  const warmup = opts.warmup ?? 5;
  let per = opts.opsPerBatch ?? 0;
  if (!per) {
    const target = (opts.targetBatchMs ?? 5) * 1e6;
    per = 1;
    for (;;) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < per; i++) op(i);
      const dt = Number(process.hrtime.bigint() - t0);
      if (dt >= target / 4 || per >= 1 << 24) {
        per = Math.max(1, Math.round((per * target) / Math.max(dt, 1)));
        break;
      }
      per *= 4;
    }
  }
  for (let b = 0; b < warmup; b++) for (let i = 0; i < per; i++) op(i);
  const batchNs: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < per; i++) op(i);
    batchNs.push(Number(process.hrtime.bigint() - t0));
  }
  const med = median(batchNs);
  const tail = p99(batchNs);
  return {
    batchNs,
    opsPerBatch: per,
    medianOpsPerSec: (per * 1e9) / med,
    p99OpsPerSec: (per * 1e9) / tail,
    medianNsPerOp: med / per,
    p99NsPerOp: tail / per,
  };
}

/** 1234567 → "1.23 M", 12345 → "12.3 k". */
export function formatSi(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  const [div, suffix] = abs >= 1e9 ? [1e9, ' G'] : abs >= 1e6 ? [1e6, ' M'] : abs >= 1e3 ? [1e3, ' k'] : [1, ''];
  return `${Number((n / div).toPrecision(digits))}${suffix}`;
}

export function markdownTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The summary rows of a benchmark as a table; every ratio is measured ÷ bound (or ÷ the alternative). */
export function summaryTable(rows: readonly { figure: string; value: string; bound?: string; ratio?: string }[]): string {
  return markdownTable(
    ['figure', 'value', 'bound / alternative', 'ratio (measured ÷ bound)'],
    rows.map((s) => [s.figure, s.value, s.bound ?? '', s.ratio ?? '']),
  );
}
