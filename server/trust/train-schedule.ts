// `train.schedule`: retrains the trust model on a cron expression (croner) inside the running
// service. `protect` skips a tick while a run is still going; a failed run is logged and the
// previous model stays in use.
import { Cron } from 'croner';
import type { TrainingRunResult } from './train-job.ts';

export interface TrainScheduleLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TrainSchedule {
  nextRun(): Date | null;
  stop(): void;
}

/** Throws RangeError on an invalid cron expression (so a bad config fails at start). */
export function startTrainSchedule(schedule: string, run: () => TrainingRunResult | Promise<TrainingRunResult>, log: TrainScheduleLogger): TrainSchedule {
  let job: Cron;
  try {
    job = new Cron(schedule, { unref: true, protect: true, paused: false }, async () => {
      try {
        const r = await run();
        if (r.trained) log.info({ modelVersion: r.model.version, rows: r.rows, metrics: r.model.metrics }, 'trust model trained');
        else log.info({ rows: r.rows, reason: r.reason }, 'trust model not trained');
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'trust training failed');
      }
    });
  } catch (e) {
    throw new RangeError(`train.schedule: ${(e as Error).message}`);
  }
  return { nextRun: () => job.nextRun(), stop: () => job.stop() };
}
