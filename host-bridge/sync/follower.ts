// The sync follower: brings the bridge's devices to the service's newest dataset soon after it is
// published, instead of at the next `sync.schedule` tick (15 minutes under `precheck up`), so what
// the service learns from outcomes reaches the local stage within a minute (issue 11).
//
// How it learns that a newer dataset exists, cheapest first:
//   - hint(version): every answer of the service to POST /v1/auth and /v1/outcomes carries
//     Precheck-Dataset-Version (contracts/dataset-version.ts); the network client passes it on.
//     A shop with traffic learns of each publish with its next request, at no extra cost.
//   - poll: GET /v1/datasets/latest every `pollMs` (`sync.pollSeconds`, default 20 s), skipped
//     when an answer carried the header within half that time. A quiet shop's last outcomes are
//     published after the service's debounce, when no request of this bridge follows.
// When a paired device holds an older version than the newest known, one sync run of the devices
// behind starts `debounceMs` later: headers arrive many times a second on a busy bridge and
// coalesce into that one run; the delay is not restarted by later hints, so steady traffic cannot
// postpone it. At most one follow run at a time; a device whose sync lock is held (POST /v1/sync,
// the schedule, a `precheck sync` in another process) is left alone and picked up at the next
// hint or poll; a device whose follow run failed waits (doubling from pollMs, at most 5 minutes)
// before the follower tries it again, so a dead link is not hammered.
//
// Clock and timers are injected (default: the real ones): the market simulator plays this same
// follower on its simulated clock (tools/simulator/sim-clock.ts).
import { EventEmitter } from 'node:events';
import type { SyncLogger } from './sync-engine.ts';
import { realTimerClock, type TimerClock } from '../../runtime/clock.ts';

/** Milliseconds clock and timers (runtime/clock.ts: the service's publisher uses the same, so one fake serves both). */
export type FollowClock = TimerClock;

/** The real clock; the bridge's HTTP server keeps the process alive, not the follower's timers. */
export const realFollowClock: FollowClock = realTimerClock;

/** A device the follower keeps up to date: its id and the dataset version it was last seen on. */
export interface FollowTarget {
  id: string;
  datasetVersion: number;
}

/** The parts of a sync report the follower reads. */
export interface FollowRunReport {
  results: Array<{ device: string; kind?: string; result: string; to?: number; code?: string }>;
}

export interface DatasetFollowerOptions {
  /** Paired devices and the version each holds as last seen (no I/O). */
  devices(): FollowTarget[];
  /** The service's newest dataset version (GET /v1/datasets/latest); null when none yet. */
  latest(): Promise<number | null>;
  /** True while something else syncs the device (its lock is held) or is about to. */
  busy(id: string): boolean;
  /** One dataset sync of these devices; never throws (failures are rows of the report). */
  run(devices: string[]): Promise<FollowRunReport>;
  /** Poll period; 0 = no poll (headers only). */
  pollMs: number;
  /** Delay from the first hint of a new version to the run (default 1 s). */
  debounceMs?: number;
  /** Longest wait after failed runs of a device (default 5 min). */
  maxBackoffMs?: number;
  clock?: FollowClock;
  logger?: SyncLogger;
}

export interface FollowerStats {
  /** Newest dataset version the service announced (header or poll); null before the first. */
  known: number | null;
  hints: number;
  polls: number;
  pollFailures: number;
  /** Follow runs started, devices brought to a newer version by them, device failures. */
  runs: number;
  updated: number;
  failures: number;
}

export const DEFAULT_FOLLOW_DEBOUNCE_MS = 1_000;

/** Events: 'run' ({devices, report}) after each follow run (tests and the simulator wait on it). */
export class DatasetFollower extends EventEmitter {
  private readonly clock: FollowClock;
  private readonly debounceMs: number;
  private readonly maxBackoffMs: number;
  private known: number | null = null;
  private lastHintAt = Number.NEGATIVE_INFINITY;
  private pollTimer: unknown = null;
  private syncTimer: unknown = null;
  private polling: Promise<void> | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  /** Version a device reached in a follow run (its cached summary may lag behind). */
  private readonly reached = new Map<string, number>();
  private readonly backoff = new Map<string, { failures: number; notBefore: number }>();
  private pollFailing = false;
  readonly stats: FollowerStats = { known: null, hints: 0, polls: 0, pollFailures: 0, runs: 0, updated: 0, failures: 0 };

  constructor(private readonly o: DatasetFollowerOptions) {
    super();
    this.clock = o.clock ?? realFollowClock;
    this.debounceMs = Math.max(0, o.debounceMs ?? DEFAULT_FOLLOW_DEBOUNCE_MS);
    this.maxBackoffMs = o.maxBackoffMs ?? 300_000;
  }

  /** Starts polling (the first poll at once: devices may have missed publishes while the bridge was down). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.o.pollMs > 0) this.schedulePoll(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.pollTimer !== null) this.clock.clearTimer(this.pollTimer);
    if (this.syncTimer !== null) this.clock.clearTimer(this.syncTimer);
    this.pollTimer = this.syncTimer = null;
  }

  /** The service announced its newest dataset version (a response header). */
  hint(version: number): void {
    if (this.stopped || !Number.isInteger(version) || version < 1) return;
    this.stats.hints++;
    this.lastHintAt = this.clock.nowMs();
    this.learn(version);
  }

  /** Resolves once no poll and no follow run is in flight (callers that must not overlap one wait here). */
  async idle(): Promise<void> {
    for (;;) {
      const p = this.running ?? this.polling;
      if (!p) return;
      await p.catch(() => undefined);
    }
  }

  /** True while a follow run is in flight. */
  isRunning(): boolean {
    return this.running !== null;
  }

  private learn(version: number): void {
    if (this.known === null || version > this.known) {
      this.known = version;
      this.stats.known = version;
    }
    this.check();
  }

  /** Devices on an older version than the newest known, not busy and not backing off. */
  private behind(): string[] {
    const known = this.known;
    if (known === null) return [];
    const now = this.clock.nowMs();
    const out: string[] = [];
    for (const d of this.o.devices()) {
      const has = Math.max(d.datasetVersion, this.reached.get(d.id) ?? 0);
      if (has >= known) continue;
      const b = this.backoff.get(d.id);
      if (b && b.notBefore > now) continue;
      if (this.o.busy(d.id)) continue;
      out.push(d.id);
    }
    return out;
  }

  /** Plans one run when some device is behind (a run in flight re-checks when it ends). */
  private check(): void {
    if (this.stopped || this.syncTimer !== null || this.running !== null) return;
    if (this.behind().length === 0) return;
    this.syncTimer = this.clock.setTimer(() => {
      this.syncTimer = null;
      this.fire();
    }, this.debounceMs);
  }

  private fire(): void {
    if (this.stopped || this.running !== null) return;
    const ids = this.behind();
    if (ids.length === 0) return;
    this.stats.runs++;
    const target = this.known!;
    this.o.logger?.info(`sync: the service has dataset v${target}; syncing ${ids.join(', ')}`);
    this.running = (async () => {
      let report: FollowRunReport | null = null;
      try {
        report = await this.o.run(ids);
      } catch (e) {
        this.o.logger?.warn(`sync: follow run failed: ${(e as Error).message}`);
      }
      this.account(ids, report);
      this.emit('run', { devices: ids, report });
    })().finally(() => {
      this.running = null;
      this.check(); // a newer version may have been announced meanwhile
    });
  }

  private account(ids: string[], report: FollowRunReport | null): void {
    const now = this.clock.nowMs();
    for (const id of ids) {
      const row = report?.results.find((r) => r.device === id && (r.kind === undefined || r.kind === 'dataset'));
      const ok = row && (row.result === 'updated' || row.result === 'up-to-date');
      if (ok) {
        if (typeof row.to === 'number') this.reached.set(id, Math.max(this.reached.get(id) ?? 0, row.to));
        if (row.result === 'updated') this.stats.updated++;
        this.backoff.delete(id);
        continue;
      }
      // Somebody else had the device (their run brings it up to date): no penalty, next hint or poll.
      if (row?.code === 'SYNC_BUSY') continue;
      this.stats.failures++;
      const b = this.backoff.get(id) ?? { failures: 0, notBefore: 0 };
      b.failures++;
      const base = Math.max(1_000, this.o.pollMs || 20_000);
      b.notBefore = now + Math.min(this.maxBackoffMs, base * 2 ** (b.failures - 1));
      this.backoff.set(id, b);
    }
  }

  private schedulePoll(ms: number): void {
    if (this.stopped) return;
    this.pollTimer = this.clock.setTimer(() => {
      this.pollTimer = null;
      this.poll();
    }, ms);
  }

  private poll(): void {
    if (this.stopped) return;
    // An answer carried the header within half a period: the service already told us; only
    // re-check devices (one may have been left alone while busy). Half, so a publish just after
    // that answer waits at most 1.5 periods for the next poll.
    if (this.clock.nowMs() - this.lastHintAt < this.o.pollMs / 2) {
      this.check();
      this.schedulePoll(this.o.pollMs);
      return;
    }
    this.stats.polls++;
    this.polling = (async () => {
      try {
        const v = await this.o.latest();
        if (this.pollFailing) this.o.logger?.info('sync: the network service answers again');
        this.pollFailing = false;
        if (v !== null) this.learn(v);
        else this.check();
      } catch (e) {
        this.stats.pollFailures++;
        // one line per outage, not one per poll
        if (!this.pollFailing) this.o.logger?.warn(`sync: cannot ask the network service for its newest dataset: ${(e as Error).message}`);
        this.pollFailing = true;
      }
    })().finally(() => {
      this.polling = null;
      this.schedulePoll(this.o.pollMs);
    });
  }
}
