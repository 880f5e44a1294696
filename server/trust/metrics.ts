// Held-out metrics for the trust classifier. The "positive" class for precision/recall is BAD
// (what the model exists to catch): flagged = score below the threshold.

/** ROC AUC of `score` for label 1 vs label 0 (Mann–Whitney U with average ranks for ties). NaN if one class is missing. */
export function rocAuc(scores: readonly number[], labels: readonly number[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSumPos = 0;
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[idx[k]] === 1) {
        pos++;
        rankSumPos += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = scores.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

export interface BadClassMetrics {
  precision: number; // of the rows flagged bad, the share that were bad (NaN when none flagged)
  recall: number; // of the bad rows, the share flagged (NaN when none bad)
  flagged: number;
}

/** Precision/recall of "score < threshold ⇒ bad". labels: 1 good, 0 bad. */
export function badClassMetrics(scores: readonly number[], labels: readonly number[], threshold: number): BadClassMetrics {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = scores[i] < threshold;
    const bad = labels[i] === 0;
    if (flagged && bad) tp++;
    else if (flagged) fp++;
    else if (bad) fn++;
  }
  return { precision: tp + fp > 0 ? tp / (tp + fp) : Number.NaN, recall: tp + fn > 0 ? tp / (tp + fn) : Number.NaN, flagged: tp + fp };
}

/**
 * The threshold maximising F1 of the bad class on these rows, among cuts that flag at most
 * `maxFlaggedShare` of them (flagged = declined, so the share is capped: on weak or noisy data the
 * unconstrained F1 optimum is "flag everything"). Returns 0 (flag nothing) when no cut qualifies.
 */
export function bestF1Threshold(scores: readonly number[], labels: readonly number[], maxFlaggedShare = 1): number {
  const order = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  const totalBad = labels.reduce((s, l) => s + (l === 0 ? 1 : 0), 0);
  if (totalBad === 0 || order.length === 0) return 0;
  let bestF1 = -1;
  let best = 0;
  let tp = 0;
  let flagged = 0;
  const maxFlagged = Math.floor(order.length * maxFlaggedShare);
  for (let k = 0; k < order.length; k++) {
    flagged++;
    if (flagged > maxFlagged) break;
    if (labels[order[k]] === 0) tp++;
    const next = k + 1 < order.length ? scores[order[k + 1]] : 1;
    if (next === scores[order[k]]) continue; // cut only between distinct scores
    const f1 = (2 * tp) / (flagged + totalBad);
    if (f1 > bestF1) {
      bestF1 = f1;
      best = (scores[order[k]] + next) / 2;
    }
  }
  return best;
}
