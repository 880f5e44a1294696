// Arm B with a verifier device: production's dataset loop played on the simulated clock.
//
// In production the service publishes a dataset within its debounce / maximum delay (seconds) of a
// change, and the bridge syncs its devices on `sync.schedule` (`precheck up`: every 15 minutes).
// Both run on wall-clock timers, and a simulation plays a month in minutes, so here the simulated
// clock drives them: before any request at simulated time t, every scheduled sync tick T ≤ t runs,
// in order, with the clock set to T: the service's own publisher builds a dataset (the same
// publish() its timer calls; at T everything reported before T is in it, i.e. the publisher's
// delay is taken as 0 against a 15-minute schedule), then POST /v1/sync on the bridge (its own sync
// runner, as the schedule and operators run it) brings the
// device up to date over the HID cable (delta or snapshot, as it chooses). Only then does the
// clock move on to t.
//
// Lag: an outcome is "accepted" at the simulated moment the bridge's outbox has forwarded it to the
// service (the port waits for that after every report); the device "has it" at the first sync tick
// after which the device runs a dataset built at or after that moment. lag = has − accepted.
import { Cron } from 'croner';
import type { PrecheckPort, ReportedOutcome, VerifyDecision, VerifyRequest } from './engine.ts';
import type { BridgeClient } from './bridge-client.ts';
import type { SelfContained } from './self-contained.ts';
import { percentile } from './stats.ts';

export interface SyncTickRecord {
  /** Simulated unix seconds of the tick. */
  at: number;
  published: number;
  installed: number | null;
  result: string;
  via?: string;
}

export interface LagStats {
  outcomes: number;
  /** Outcomes the device had by the end of the run. */
  delivered: number;
  p50: number;
  p99: number;
  max: number;
}

export class ScheduledSyncPort implements PrecheckPort {
  private target: number;
  private nextTick: number;
  private readonly cron: Cron;
  /** dataset version → simulated creation time */
  private readonly createdAt = new Map<number, number>();
  /** Simulated acceptance times of forwarded outcomes, in order. */
  readonly accepted: number[] = [];
  /** For each accepted outcome (same index), the simulated time the device had it, or null. */
  private readonly hadAt: Array<number | null> = [];
  /** First outcome index not yet known to be on the device. */
  private pending = 0;
  readonly ticks: SyncTickRecord[] = [];
  syncFailures = 0;
  /** Wall time spent publishing and syncing (the run's cost of the loop). */
  readonly wallMs = { publish: 0, sync: 0 };

  constructor(
    private readonly client: BridgeClient,
    private readonly sc: SelfContained,
    schedule: string,
  ) {
    if (!sc.device) throw new RangeError('ScheduledSyncPort needs a self-contained run with a device');
    this.target = sc.clock.nowSeconds();
    // UTC keeps the run independent of the machine's zone; the default schedule is zone-free anyway.
    this.cron = new Cron(schedule, { paused: true, timezone: 'UTC' });
    this.nextTick = this.after(this.target);
  }

  private after(unixSeconds: number): number {
    const n = this.cron.nextRun(new Date(unixSeconds * 1000));
    if (!n) throw new RangeError('the sync schedule has no next run');
    return Math.floor(n.getTime() / 1000);
  }

  advanceTo(unixSeconds: number): void {
    if (unixSeconds > this.target) this.target = unixSeconds;
  }

  /** The first sync: the device starts the run with the service's current dataset, as after `precheck up`. */
  async start(): Promise<void> {
    await this.tick(this.sc.clock.nowSeconds());
  }

  /** Runs every tick up to the target time, then moves the clock there. */
  private async settle(): Promise<void> {
    while (this.nextTick <= this.target) {
      const t = this.nextTick;
      this.sc.clock.advanceTo(t);
      await this.tick(t);
      this.nextTick = this.after(t);
    }
    this.sc.clock.advanceTo(this.target);
  }

  private async tick(t: number): Promise<void> {
    const dev = this.sc.device!;
    const w0 = performance.now();
    const p = await dev.publish();
    this.createdAt.set(p.version, p.createdAt);
    const w1 = performance.now();
    const report = await dev.sync();
    this.wallMs.publish += w1 - w0;
    this.wallMs.sync += performance.now() - w1;
    const row = report.results.find((r) => r.device === dev.id && r.kind === 'dataset');
    let installed: number | null = null;
    if (row && (row.result === 'updated' || row.result === 'up-to-date')) installed = row.to;
    else this.syncFailures++;
    this.ticks.push({ at: t, published: p.version, installed, result: row?.result ?? 'missing', ...(row?.via ? { via: row.via } : {}) });
    const built = installed === null ? undefined : this.createdAt.get(installed);
    if (built === undefined) return;
    // A build at T runs before any request at T: it holds the outcomes accepted strictly before T.
    while (this.pending < this.accepted.length && this.accepted[this.pending] < built) {
      this.hadAt[this.pending] = t;
      this.pending++;
    }
  }

  async verify(req: VerifyRequest): Promise<VerifyDecision> {
    await this.settle();
    return this.client.verify(req);
  }

  async report(o: ReportedOutcome): Promise<void> {
    await this.settle();
    await this.client.report(o);
    // Forwarded before anything else happens on the simulated clock: accepted now.
    await this.client.drain();
    this.accepted.push(this.sc.clock.nowSeconds());
    this.hadAt.push(null);
  }

  /**
   * Runs the ticks up to `unixSeconds` (the end of the run), then, for outcomes of the last orders
   * (retries can run past the end), up to two more ticks so they get their chance.
   */
  async finish(unixSeconds: number): Promise<void> {
    this.advanceTo(unixSeconds);
    await this.settle();
    for (let extra = 0; extra < 2 && this.pending < this.accepted.length; extra++) {
      this.advanceTo(this.nextTick);
      await this.settle();
    }
  }

  lag(): LagStats {
    const lags: number[] = [];
    for (let i = 0; i < this.accepted.length; i++) {
      const h = this.hadAt[i];
      if (h !== null && h !== undefined) lags.push(h - this.accepted[i]);
    }
    lags.sort((a, b) => a - b);
    return {
      outcomes: this.accepted.length,
      delivered: lags.length,
      p50: percentile(lags, 0.5),
      p99: percentile(lags, 0.99),
      max: lags.length ? lags[lags.length - 1] : Number.NaN,
    };
  }
}
