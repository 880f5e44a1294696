// The learning loop's lag as each device experiences it: from "the network service accepted an
// outcome" (the forwarder's acknowledged POST /v1/outcomes, bridge clock) to "the device holds a
// dataset containing it" (a sync run that leaves the device on a version created after it).
//
// Which dataset contains an outcome: one the service created (createdAt, unix seconds) in a later
// second than the outcome was accepted — its build read the tables after the outcome was stored.
// An outcome accepted within the same second as the build started is counted with the next version
// instead: the lag is never understated, at most overstated by one publish. Both clocks are the
// machines' own (NTP); on one host they are the same clock.
//
// Bounded: acknowledged times are kept until every device known here has them (at most
// `maxPending`, oldest dropped first), and the quantiles are over each device's last `maxSamples`.

export interface LagQuantiles {
  p50: number;
  p99: number;
  /** lags measured so far for the device */
  count: number;
}

export class LearningLag {
  /** acknowledgement times (ms), ascending; acked[i] has the global index base + i */
  private acked: number[] = [];
  private base = 0;
  private readonly cursor = new Map<string, number>();
  private readonly samples = new Map<string, number[]>();
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly maxPending = 100_000,
    private readonly maxSamples = 1000,
  ) {}

  /** The service acknowledged one outcome at `atMs` (bridge clock). */
  accepted(atMs: number): void {
    this.acked.push(atMs);
    if (this.acked.length > this.maxPending) {
      const drop = this.acked.length - this.maxPending;
      this.acked.splice(0, drop);
      this.base += drop;
    }
  }

  /** `device` holds (as of `nowMs`) a dataset the service created at `createdAtS`. */
  delivered(device: string, createdAtS: number, nowMs: number): number {
    let i = Math.max(this.cursor.get(device) ?? this.base, this.base);
    const edge = createdAtS * 1000;
    let lags = this.samples.get(device);
    if (!lags) this.samples.set(device, (lags = []));
    let n = 0;
    while (i - this.base < this.acked.length && this.acked[i - this.base] < edge) {
      lags.push(Math.max(0, nowMs - this.acked[i - this.base]) / 1000);
      i++;
      n++;
    }
    if (lags.length > this.maxSamples) lags.splice(0, lags.length - this.maxSamples);
    this.cursor.set(device, i);
    this.counts.set(device, (this.counts.get(device) ?? 0) + n);
    this.trim();
    return n;
  }

  /** Outcomes acknowledged by the service that `device` does not hold yet. */
  pending(device: string): number {
    return this.base + this.acked.length - Math.max(this.cursor.get(device) ?? this.base, this.base);
  }

  quantiles(device: string): LagQuantiles | null {
    const lags = this.samples.get(device);
    if (!lags || lags.length === 0) return null;
    const sorted = [...lags].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
    return { p50: q(0.5), p99: q(0.99), count: this.counts.get(device) ?? 0 };
  }

  devices(): string[] {
    return [...this.cursor.keys()].sort();
  }

  /** Drop what every known device already has. */
  private trim(): void {
    if (this.cursor.size === 0) return;
    const min = Math.min(...this.cursor.values());
    const drop = Math.min(this.acked.length, min - this.base);
    if (drop > 0) {
      this.acked.splice(0, drop);
      this.base += drop;
    }
  }
}
