// Arm B with a verifier device: production's dataset loop played on the simulated clock.
//
// In production the service's publisher builds a dataset 2 s after the changes stop and at the
// latest `publish.maxDelay` (10 s) after the oldest one; the bridge's sync follower hears of it
// from the Precheck-Dataset-Version header on the service's next answer, or from its poll of
// GET /v1/datasets/latest (every 20 s), and syncs the device 1 s later; the bridge also runs a full
// sync on `sync.schedule` (`precheck up`: every 15 minutes). All of these run on timers, and a
// simulation plays a month in minutes, so here the simulated clock drives them: the publisher and
// the follower are the real ones with their timers on the simulated clock (SimTimers), and before
// any request at simulated time t every timer and schedule tick due at or before t fires, in time
// order, with the clock set to its time, and its work (a build, a poll, a sync over the HID cable)
// is awaited. Only then does the clock move on to t. A schedule tick is POST /v1/sync on the
// bridge, as the schedule runs it.
//
// With follow off (`--no-sync-follow`, the loop before issue 11), a tick first has the service
// publish (the same publish() its timer calls; its delay taken as 0), then syncs: the lag is then
// set by the schedule alone.
//
// Lag: an outcome is "accepted" at the simulated moment the bridge's outbox has forwarded it to the
// service (the port waits for that after every report); the device "has it" at the first sync
// (follow run or tick) after which the device runs a dataset built after that moment.
// lag = has − accepted.
import { Cron } from 'croner';
import type { PrecheckPort, ReportedOutcome, VerifyDecision, VerifyRequest } from './engine.ts';
import type { BridgeClient } from './bridge-client.ts';
import type { SelfContained } from './self-contained.ts';
import { percentile } from './stats.ts';
import type { FollowRunReport } from '../../host-bridge/sync/follower.ts';

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
  /** Simulated acceptance times of forwarded outcomes, in order. */
  readonly accepted: number[] = [];
  /** For each accepted outcome (same index), the simulated time the device had it, or null. */
  private readonly hadAt: Array<number | null> = [];
  /** First outcome index not yet known to be on the device. */
  private pending = 0;
  readonly ticks: SyncTickRecord[] = [];
  syncFailures = 0;
  /** Follow runs (the bridge's follower) and how many installed a new dataset. */
  readonly follow = { runs: 0, updated: 0, failed: 0 };
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
    const f = sc.device.follow;
    if (f) {
      f.follower.on('run', (e: { report: FollowRunReport | null }) => {
        this.follow.runs++;
        const row = e.report?.results.find((r) => r.device === sc.device!.id && (r.kind ?? 'dataset') === 'dataset');
        if (row?.result === 'updated') this.follow.updated++;
        else if (row?.result !== 'up-to-date') this.follow.failed++;
        this.delivered(row as { result?: string; createdAt?: number } | undefined, this.sc.clock.nowSeconds());
      });
    }
  }

  /** Whether the production follow loop runs (else the schedule alone). */
  get following(): boolean {
    return this.sc.device!.follow !== null;
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
    await this.tick(this.sc.clock.nowSeconds(), true);
  }

  /** Fires every timer and schedule tick up to the target time, in time order, then moves the clock there. */
  private async settle(): Promise<void> {
    const f = this.sc.device!.follow;
    for (;;) {
      const timerAt = f?.timers.nextAt() ?? null;
      const timerS = timerAt === null ? null : Math.ceil(timerAt / 1000);
      if (timerS !== null && timerS <= this.target && timerS <= this.nextTick) {
        // a timer first at the same second as a tick: the publish the tick would find
        const t = f!.timers.take()!;
        this.sc.clock.advanceTo(timerS);
        const w0 = performance.now();
        t.fn();
        if (t.tag === 'publish') {
          await f!.publisherIdle();
          this.wallMs.publish += performance.now() - w0;
        } else {
          await f!.follower.idle();
          this.wallMs.sync += performance.now() - w0;
        }
        continue;
      }
      if (this.nextTick > this.target) break;
      const t = this.nextTick;
      this.sc.clock.advanceTo(t);
      await this.tick(t, false);
      this.nextTick = this.after(t);
    }
    this.sc.clock.advanceTo(this.target);
  }

  /** A schedule tick: POST /v1/sync (first, without follow, the service publishes). */
  private async tick(t: number, first: boolean): Promise<void> {
    const dev = this.sc.device!;
    const w0 = performance.now();
    const p = dev.follow && !first ? null : await dev.publish();
    const w1 = performance.now();
    const report = await dev.sync();
    this.wallMs.publish += w1 - w0;
    this.wallMs.sync += performance.now() - w1;
    const row = report.results.find((r) => r.device === dev.id && r.kind === 'dataset');
    let installed: number | null = null;
    if (row && (row.result === 'updated' || row.result === 'up-to-date')) installed = row.to;
    else this.syncFailures++;
    this.ticks.push({ at: t, published: p?.version ?? report.latest.dataset ?? 0, installed, result: row?.result ?? 'missing', ...(row?.via ? { via: row.via } : {}) });
    this.delivered(row, t);
  }

  /** A sync left the device on a dataset created at `row.createdAt`: what was accepted before it is there. */
  private delivered(row: { result?: string; createdAt?: number } | undefined, t: number): void {
    if (!row || (row.result !== 'updated' && row.result !== 'up-to-date') || typeof row.createdAt !== 'number') return;
    const built = row.createdAt;
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
   * Runs the timers and ticks up to `unixSeconds` (the end of the run), then, for outcomes of the
   * last orders (retries can run past the end), on until they reach the device: a few minutes of
   * the follow loop, or up to two more schedule ticks without it.
   */
  async finish(unixSeconds: number): Promise<void> {
    this.advanceTo(unixSeconds);
    await this.settle();
    if (this.following) {
      for (let extra = 0; extra < 10 && this.pending < this.accepted.length; extra++) {
        this.advanceTo(this.target + 30);
        await this.settle();
      }
      return;
    }
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
