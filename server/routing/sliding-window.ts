// Success/failure counts over a sliding window of time buckets that also adapts to volume: the
// window is the last `bucketCount` buckets, extended back to older buckets (up to
// `maxLookbackBuckets`) while it holds fewer than `minOutcomes` outcomes — when the caller says the
// segment is low-volume (GatewayRouter decides per segment, over all gateways). Hyperswitch sizes its
// buckets by payment count for the same reason: a time window alone forgets everything a
// low-volume merchant learnt (a few payments an hour never fill a one-hour window), a count
// window alone reacts slowly at high volume. Time buckets (not count buckets) so a late outcome
// still lands in the bucket of its own timestamp.

export interface WindowOptions {
  bucketSeconds: number; // width of one bucket
  bucketCount: number; // buckets of the time window = bucketSeconds × bucketCount
  /** Weight of a bucket per bucket of age (1 = plain rate; <1 favours recent buckets). */
  decay: number;
  /** Outcomes the window reaches back for when the time window holds fewer; 0 = time window only. */
  minOutcomes?: number;
  /** Oldest bucket the window may reach back to (in buckets, ≥ bucketCount). */
  maxLookbackBuckets?: number;
}

export interface WindowRate {
  successes: number; // raw counts inside the (possibly extended) window
  failures: number;
  rate: number | null; // decay-weighted success rate, null when empty
}

export class BucketWindow {
  // Parallel arrays sorted by bucket index (outcomes arrive nearly in time order: appends).
  private readonly idx: number[] = [];
  private readonly s: number[] = [];
  private readonly f: number[] = [];
  /** Of the failures, those that were technical (the gateway's fault, not the issuer's). */
  private readonly t: number[] = [];
  private readonly minOutcomes: number;
  private readonly lookback: number;

  constructor(private readonly opts: WindowOptions) {
    this.minOutcomes = opts.minOutcomes ?? 0;
    this.lookback = this.minOutcomes > 0 ? Math.max(opts.bucketCount, opts.maxLookbackBuckets ?? opts.bucketCount) : opts.bucketCount;
  }

  static bucketIndex(at: number, bucketSeconds: number): number {
    return Math.floor(at / bucketSeconds);
  }

  /** Buckets (counted back from now's) that can still count: the time window, or the lookback. */
  get lookbackBuckets(): number {
    return this.lookback;
  }

  /** Adds one outcome to the bucket of `at`. Caller has checked `at` is inside the lookback. */
  add(at: number, success: boolean, technical = false): void {
    const b = BucketWindow.bucketIndex(at, this.opts.bucketSeconds);
    let i = this.idx.length - 1;
    while (i >= 0 && this.idx[i] > b) i--;
    if (i < 0 || this.idx[i] !== b) {
      i++;
      this.idx.splice(i, 0, b);
      this.s.splice(i, 0, 0);
      this.f.splice(i, 0, 0);
      this.t.splice(i, 0, 0);
    }
    if (success) this.s[i]++;
    else {
      this.f[i]++;
      if (technical) this.t[i]++;
    }
  }

  /** Forgets the technical failures (a recovered outage); returns how many were dropped. */
  forgetTechnical(): number {
    let n = 0;
    for (let i = 0; i < this.idx.length; i++) {
      n += this.t[i];
      this.f[i] -= this.t[i];
      this.t[i] = 0;
    }
    return n;
  }

  /**
   * Drops buckets that can no longer count at `now` or later: older than the lookback, or older
   * than both the time window and the newest `minOutcomes` outcomes. Returns buckets remaining.
   */
  prune(now: number): number {
    const current = BucketWindow.bucketIndex(now, this.opts.bucketSeconds);
    const windowOldest = current - this.opts.bucketCount + 1;
    let keepFrom = current - this.lookback + 1;
    let n = 0;
    for (let i = this.idx.length - 1; i >= 0; i--) {
      if (this.idx[i] > current) continue;
      n += this.s[i] + this.f[i];
      if (n >= this.minOutcomes) {
        keepFrom = Math.max(keepFrom, Math.min(windowOldest, this.idx[i]));
        break;
      }
    }
    let drop = 0;
    while (drop < this.idx.length && this.idx[drop] < keepFrom) drop++;
    if (drop > 0) {
      this.idx.splice(0, drop);
      this.s.splice(0, drop);
      this.f.splice(0, drop);
      this.t.splice(0, drop);
    }
    return this.idx.length;
  }

  /** Outcomes inside the time window alone (no reaching back). */
  windowCount(now: number): number {
    const current = BucketWindow.bucketIndex(now, this.opts.bucketSeconds);
    const windowOldest = current - this.opts.bucketCount + 1;
    let n = 0;
    for (let i = this.idx.length - 1; i >= 0 && this.idx[i] >= windowOldest; i--) if (this.idx[i] <= current) n += this.s[i] + this.f[i];
    return n;
  }

  /**
   * The rate at `now`. `reachBack` false keeps to the time window: the caller (the router) reaches
   * back only when the whole SEGMENT is low-volume, not when one gateway of a busy segment gets
   * little traffic — that gateway's old data (an outage's timeouts) would otherwise outlive the
   * window, and exploration re-measures it anyway.
   */
  rate(now: number, reachBack = true, withoutTechnical = false): WindowRate {
    const current = BucketWindow.bucketIndex(now, this.opts.bucketSeconds);
    const windowOldest = current - this.opts.bucketCount + 1;
    const lookbackOldest = reachBack ? current - this.lookback + 1 : windowOldest;
    let s = 0;
    let f = 0;
    let ws = 0;
    let wn = 0;
    for (let i = this.idx.length - 1; i >= 0; i--) {
      const b = this.idx[i];
      if (b > current) continue;
      if (b < lookbackOldest) break;
      // Beyond the time window only while the window is short of outcomes (whole buckets).
      if (b < windowOldest && s + f >= this.minOutcomes) break;
      // Buckets reached back for weigh as much as the oldest bucket of the time window.
      const w = this.opts.decay ** Math.min(current - b, this.opts.bucketCount - 1);
      const fi = withoutTechnical ? this.f[i] - this.t[i] : this.f[i];
      s += this.s[i];
      f += fi;
      ws += w * this.s[i];
      wn += w * (this.s[i] + fi);
    }
    return { successes: s, failures: f, rate: wn > 0 ? ws / wn : null };
  }
}
