// One training run: labelled attempts → model → store. Shared by `precheck server train` and the
// scheduled job, so both record the same version and held-out metrics.
import { trainTrustModel, TrustTrainingError, type TrainOptions, type TrustModel, type TrustRow } from './model.ts';
import type { TrustModelStore } from './model-store.ts';

export interface TrainingSource {
  trainingRows(since?: number): TrustRow[] | Promise<TrustRow[]>;
}

export type TrainingRunResult =
  | { trained: true; model: TrustModel; rows: number }
  | { trained: false; reason: string; rows: number };

/**
 * Trains on labelled attempts newer than `sinceSeconds` and saves the model. Too little or
 * one-sided data is an answer (trained: false), not an exception: the previous model stays.
 */
export async function runTrustTraining(source: TrainingSource, store: TrustModelStore, opts: TrainOptions & { since?: number } = {}): Promise<TrainingRunResult> {
  const rows = await source.trainingRows(opts.since ?? 0);
  try {
    const model = trainTrustModel(rows, opts);
    await store.saveModel(model);
    return { trained: true, model, rows: rows.length };
  } catch (e) {
    if (e instanceof TrustTrainingError) return { trained: false, reason: e.message, rows: rows.length };
    throw e;
  }
}
