// Success/failure counts over a sliding window of time buckets (Hyperswitch keeps a pipeline of
// buckets too). Time buckets, not count buckets, so a late outcome lands in the bucket of its
// own timestamp while that bucket is still inside the window.

export interface WindowOptions {
  bucketSeconds: number; // width of one bucket
  bucketCount: number; // buckets kept; window = bucketSeconds × bucketCount
  /** Weight of a bucket per bucket of age (1 = plain rate; <1 favours recent buckets). */
  decay: number;
}

export interface WindowRate {
  successes: number; // raw counts inside the window
  failures: number;
  rate: number | null; // decay-weighted success rate, null when empty
}

interface Bucket {
  s: number;
  f: number;
}

export class BucketWindow {
  private readonly buckets = new Map<number, Bucket>();
  constructor(private readonly opts: WindowOptions) {}

  static bucketIndex(at: number, bucketSeconds: number): number {
    return Math.floor(at / bucketSeconds);
  }

  /** Adds one outcome to the bucket of `at`. Caller has checked `at` is inside the window. */
  add(at: number, success: boolean): void {
    const idx = BucketWindow.bucketIndex(at, this.opts.bucketSeconds);
    let b = this.buckets.get(idx);
    if (!b) {
      b = { s: 0, f: 0 };
      this.buckets.set(idx, b);
    }
    if (success) b.s++;
    else b.f++;
  }

  /** Drops buckets older than the window ending at `now`; returns how many buckets remain. */
  prune(now: number): number {
    const oldest = BucketWindow.bucketIndex(now, this.opts.bucketSeconds) - this.opts.bucketCount + 1;
    for (const idx of this.buckets.keys()) if (idx < oldest) this.buckets.delete(idx);
    return this.buckets.size;
  }

  rate(now: number): WindowRate {
    const current = BucketWindow.bucketIndex(now, this.opts.bucketSeconds);
    const oldest = current - this.opts.bucketCount + 1;
    let s = 0;
    let f = 0;
    let ws = 0;
    let wn = 0;
    for (const [idx, b] of this.buckets) {
      if (idx < oldest || idx > current) continue;
      const w = this.opts.decay ** (current - idx);
      s += b.s;
      f += b.f;
      ws += w * b.s;
      wn += w * (b.s + b.f);
    }
    return { successes: s, failures: f, rate: wn > 0 ? ws / wn : null };
  }
}
