// Runs the sync job on `sync.schedule` (a cron expression, evaluated by croner) inside the
// running bridge. croner's `protect` skips a tick while the previous run is still going (a slow
// RS485 bus can take longer than the interval); the engine's per-device locks add the guarantee
// for runs started by other paths (POST /v1/sync, a cron'd `precheck sync` in another process).
import { Cron } from 'croner';
import { describeError } from './errors.ts';
import type { SyncLogger } from './sync-engine.ts';

export interface SyncSchedulerOptions {
  /** Cron expression, e.g. "*\/15 * * * *" (5 or 6 fields; croner syntax). */
  schedule: string;
  /** The job; its result is only logged. */
  run: () => Promise<unknown>;
  logger?: SyncLogger;
  /** IANA time zone (default: the machine's). */
  timezone?: string;
}

export interface SyncScheduler {
  /** Next planned start, or null when stopped. */
  nextRun(): Date | null;
  /** True while a scheduled run is in progress. */
  isBusy(): boolean;
  /** Completed runs and skipped (overlapping) ticks since start. */
  readonly stats: { runs: number; skipped: number; failed: number };
  /** Run now through the same overlap guard (false if a run is already going). */
  trigger(): boolean;
  stop(): void;
}

export function startSyncScheduler(o: SyncSchedulerOptions): SyncScheduler {
  const stats = { runs: 0, skipped: 0, failed: 0 };
  const log = o.logger;
  const job = new Cron(
    o.schedule,
    {
      // the bridge's HTTP server keeps the process alive; the timer alone must not
      unref: true,
      timezone: o.timezone,
      protect: () => {
        stats.skipped++;
        log?.warn('sync: scheduled run skipped, the previous one is still running');
      },
      catch: (e: unknown) => {
        stats.failed++;
        log?.error(`sync: scheduled run failed: ${describeError(e)}`);
      },
    },
    async () => {
      log?.info('sync: scheduled run starting');
      await o.run();
      stats.runs++;
    },
  );
  return {
    nextRun: () => job.nextRun(),
    isBusy: () => job.isBusy(),
    stats,
    trigger: () => {
      if (job.isBusy()) {
        stats.skipped++;
        return false;
      }
      void job.trigger();
      return true;
    },
    stop: () => job.stop(),
  };
}
