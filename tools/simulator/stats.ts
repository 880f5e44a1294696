// Metrics of an arm and the B−A differences with 95% confidence intervals.
//
// Intervals: a PAIRED bootstrap over orders. Both arms played the same orders, so the natural unit
// of resampling is the order, taken with both its arm-A and arm-B results: resample n orders with
// replacement, compute each metric for A and for B on that resample, keep B−A; the 2.5th and
// 97.5th percentiles of those differences are the interval (percentile bootstrap). Pairing removes
// the order-to-order variance both arms share (amount, card, customer), which is most of it. The
// bootstrap is used because the cost metrics are ratios (fees / paid orders), for which a normal
// formula would need the delta method. For the success-rate difference, a paired difference of
// binary outcomes, the normal approximation (mean of per-order differences ± 1.96·sd/√n, the
// Wald form of McNemar's comparison) is also computed as a cross-check.
import { Rng } from './prng.ts';
import type { OrderResult } from './engine.ts';

export interface ArmMetrics {
  orders: number;
  legitOrders: number;
  fraudOrders: number;
  paidLegit: number;
  /** paid legitimate orders / legitimate orders */
  successRate: number;
  attempts: number;
  /** all gateway attempts (fraud orders' too: they are paid for) / paid legitimate orders */
  attemptsPerPaid: number;
  /** reporting-currency minor units */
  fees: number;
  feesPerPaid: number;
  verifies: number;
  declines: number;
  reviews: number;
  falseDeclines: number;
  payableVerifies: number;
  /** false declines / verifications of legitimate cards that could pay */
  falseDeclineRate: number;
  /** fraud orders that got paid */
  fraudLetThrough: number;
  fraudLetThroughRate: number;
  fraudAmountLetThrough: number;
  paidAmount: number;
  verifyErrors: number;
  /** Approved gateway attempts (all orders: what the gateway sees). */
  attemptSuccesses: number;
  /** approved attempts / attempts: the gateway attempt success rate */
  attemptSuccessRate: number;
  /** False declines by the decline's reason. */
  falseDeclineReasons: Record<string, number>;
  /** Precheck answers by stage (local / network / fallback ...), whole run. */
  stages: Record<string, number>;
  /** The same, counting only verifications after the run's first simulated day. */
  stagesAfterDay1: Record<string, number>;
}

export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

export interface Comparison {
  successRate: Interval;
  /** normal approximation for the paired binary difference (cross-check) */
  successRateNormal: Interval;
  attemptsPerPaid: Interval;
  feesPerPaid: Interval;
  fraudLetThroughRate: Interval;
  /** Gateway attempt success rate (approved attempts / attempts), B − A. */
  attemptSuccessRate: Interval;
  resamples: number;
}

const div = (a: number, b: number) => (b === 0 ? 0 : a / b);

export function armMetrics(rs: readonly OrderResult[]): ArmMetrics {
  let legit = 0;
  let fraud = 0;
  let paidLegit = 0;
  let attempts = 0;
  let fees = 0;
  let verifies = 0;
  let declines = 0;
  let reviews = 0;
  let falseDeclines = 0;
  let payable = 0;
  let fraudPaid = 0;
  let fraudAmount = 0;
  let paidAmount = 0;
  let verifyErrors = 0;
  let attemptSuccesses = 0;
  const falseDeclineReasons: Record<string, number> = {};
  const stages: Record<string, number> = {};
  const stagesAfterDay1: Record<string, number> = {};
  for (const r of rs) {
    for (const a of r.attemptLog) if (a.status === 'success') attemptSuccesses++;
    for (const [k, v] of Object.entries(r.falseDeclineReasons ?? {})) falseDeclineReasons[k] = (falseDeclineReasons[k] ?? 0) + v;
    for (const p of r.precheckLog) {
      const st = p.stage ?? 'unknown';
      stages[st] = (stages[st] ?? 0) + 1;
      if ((p.t ?? 0) >= 86_400) stagesAfterDay1[st] = (stagesAfterDay1[st] ?? 0) + 1;
    }
    if (r.fraud) {
      fraud++;
      if (r.paid) {
        fraudPaid++;
        fraudAmount += r.paidAmount;
      }
    } else {
      legit++;
      if (r.paid) {
        paidLegit++;
        paidAmount += r.paidAmount;
      }
    }
    attempts += r.attempts;
    fees += r.fees;
    verifies += r.verifies;
    declines += r.declines;
    reviews += r.reviews;
    falseDeclines += r.falseDeclines;
    payable += r.payableVerifies;
    verifyErrors += r.verifyErrors;
  }
  return {
    orders: rs.length,
    legitOrders: legit,
    fraudOrders: fraud,
    paidLegit,
    successRate: div(paidLegit, legit),
    attempts,
    attemptsPerPaid: div(attempts, paidLegit),
    fees,
    feesPerPaid: div(fees, paidLegit),
    verifies,
    declines,
    reviews,
    falseDeclines,
    payableVerifies: payable,
    falseDeclineRate: div(falseDeclines, payable),
    fraudLetThrough: fraudPaid,
    fraudLetThroughRate: div(fraudPaid, fraud),
    fraudAmountLetThrough: fraudAmount,
    paidAmount,
    verifyErrors,
    attemptSuccesses,
    attemptSuccessRate: div(attemptSuccesses, attempts),
    falseDeclineReasons,
    stages,
    stagesAfterDay1,
  };
}

/** Percentile of a sorted array (linear interpolation between closest ranks). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const x = (sorted.length - 1) * p;
  const lo = Math.floor(x);
  const hi = Math.ceil(x);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

/** Paired normal (Wald) interval for the mean of per-order differences d_i = b_i − a_i. */
export function pairedNormalInterval(a: readonly number[], b: readonly number[], z = 1.959964): Interval {
  if (a.length !== b.length) throw new RangeError('paired samples must have the same length');
  const n = a.length;
  if (n === 0) return { estimate: Number.NaN, low: Number.NaN, high: Number.NaN };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += b[i] - a[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (b[i] - a[i] - mean) ** 2;
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  const half = (z * sd) / Math.sqrt(n);
  return { estimate: mean, low: mean - half, high: mean + half };
}

/**
 * Paired percentile bootstrap of a statistic difference stat(B) − stat(A). `stat` gets the arm's
 * results and the resampled indices. Seeded, so the interval is reproducible.
 */
export function pairedBootstrap(
  a: readonly OrderResult[],
  b: readonly OrderResult[],
  stat: (rs: readonly OrderResult[], idx: Int32Array) => number,
  opts: { resamples?: number; seed?: number | string; level?: number } = {},
): Interval {
  if (a.length !== b.length) throw new RangeError('paired samples must have the same length');
  const n = a.length;
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const estimate = stat(b, all) - stat(a, all);
  const reps = opts.resamples ?? 2000;
  const rng = new Rng(opts.seed ?? 1, 'bootstrap');
  const diffs: number[] = [];
  const idx = new Int32Array(n);
  for (let k = 0; k < reps; k++) {
    for (let i = 0; i < n; i++) idx[i] = rng.int(n);
    const d = stat(b, idx) - stat(a, idx);
    if (Number.isFinite(d)) diffs.push(d);
  }
  diffs.sort((x, y) => x - y);
  const alpha = (1 - (opts.level ?? 0.95)) / 2;
  return { estimate, low: percentile(diffs, alpha), high: percentile(diffs, 1 - alpha) };
}

/** Ratio statistic Σnum / Σden over the resampled orders. */
function ratio(num: (r: OrderResult) => number, den: (r: OrderResult) => number) {
  return (rs: readonly OrderResult[], idx: Int32Array) => {
    let s = 0;
    let d = 0;
    for (let i = 0; i < idx.length; i++) {
      const r = rs[idx[i]];
      s += num(r);
      d += den(r);
    }
    return d === 0 ? Number.NaN : s / d;
  };
}

export const STATS = {
  successRate: ratio((r) => (!r.fraud && r.paid ? 1 : 0), (r) => (r.fraud ? 0 : 1)),
  attemptsPerPaid: ratio((r) => r.attempts, (r) => (!r.fraud && r.paid ? 1 : 0)),
  feesPerPaid: ratio((r) => r.fees, (r) => (!r.fraud && r.paid ? 1 : 0)),
  fraudLetThroughRate: ratio((r) => (r.fraud && r.paid ? 1 : 0), (r) => (r.fraud ? 1 : 0)),
  attemptSuccessRate: ratio((r) => r.attemptLog.reduce((n, a) => n + (a.status === 'success' ? 1 : 0), 0), (r) => r.attempts),
};

export function compareArms(a: readonly OrderResult[], b: readonly OrderResult[], opts: { resamples?: number; seed?: number | string } = {}): Comparison {
  if (a.length !== b.length) throw new RangeError('the arms played different numbers of orders');
  for (let i = 0; i < a.length; i++) if (a[i].orderId !== b[i].orderId) throw new RangeError(`the arms played different orders at position ${i}`);
  const legitIdx = a.map((r, i) => (r.fraud ? -1 : i)).filter((i) => i >= 0);
  const resamples = opts.resamples ?? 2000;
  return {
    successRate: pairedBootstrap(a, b, STATS.successRate, { ...opts, resamples }),
    successRateNormal: pairedNormalInterval(
      legitIdx.map((i) => (a[i].paid ? 1 : 0)),
      legitIdx.map((i) => (b[i].paid ? 1 : 0)),
    ),
    attemptsPerPaid: pairedBootstrap(a, b, STATS.attemptsPerPaid, { ...opts, resamples, seed: `${opts.seed ?? 1}/attempts` }),
    feesPerPaid: pairedBootstrap(a, b, STATS.feesPerPaid, { ...opts, resamples, seed: `${opts.seed ?? 1}/fees` }),
    fraudLetThroughRate: pairedBootstrap(a, b, STATS.fraudLetThroughRate, { ...opts, resamples, seed: `${opts.seed ?? 1}/fraud` }),
    attemptSuccessRate: pairedBootstrap(a, b, STATS.attemptSuccessRate, { ...opts, resamples, seed: `${opts.seed ?? 1}/attempt-success` }),
    resamples,
  };
}
