// Per-answer breakdown of a run: for every Precheck answer an order received first in arm B
// (decision:reason[:prompt]), how many legitimate orders got it and how many of them were paid in
// A and in B. Where B loses orders against A, this says which answer lost them.
import type { OrderResult } from './engine.ts';

export interface AnswerRow {
  answer: string;
  orders: number;
  paidA: number;
  paidB: number;
  /** Paid in A, not in B. */
  lost: number;
  /** Paid in B, not in A. */
  won: number;
  attemptsA: number;
  attemptsB: number;
}

function label(p: OrderResult['precheckLog'][number]): string {
  return `${p.decision}:${p.reason}${p.prompt ? `:${p.prompt}` : ''}`;
}

/** Rows for legitimate orders, by the first answer in B (and `lost`/`won` by the answer that ended B). */
export function answerBreakdown(a: readonly OrderResult[], b: readonly OrderResult[], by: 'first' | 'last' = 'first'): AnswerRow[] {
  const rows = new Map<string, AnswerRow>();
  for (let i = 0; i < b.length; i++) {
    const rb = b[i];
    const ra = a[i];
    if (rb.fraud) continue;
    const log = rb.precheckLog;
    const key = log.length === 0 ? '(no answer)' : label(by === 'first' ? log[0] : log[log.length - 1]);
    let r = rows.get(key);
    if (!r) {
      r = { answer: key, orders: 0, paidA: 0, paidB: 0, lost: 0, won: 0, attemptsA: 0, attemptsB: 0 };
      rows.set(key, r);
    }
    r.orders++;
    if (ra.paid) r.paidA++;
    if (rb.paid) r.paidB++;
    if (ra.paid && !rb.paid) r.lost++;
    if (!ra.paid && rb.paid) r.won++;
    r.attemptsA += ra.attempts;
    r.attemptsB += rb.attempts;
  }
  return [...rows.values()].sort((x, y) => y.orders - x.orders);
}

export function breakdownMarkdown(rows: readonly AnswerRow[], title: string): string {
  const head = `| ${title} | orders | paid A | paid B | lost (A paid, B not) | won (B paid, A not) | attempts A | attempts B |\n|---|---|---|---|---|---|---|---|\n`;
  return head + rows.map((r) => `| ${r.answer} | ${r.orders} | ${r.paidA} | ${r.paidB} | ${r.lost} | ${r.won} | ${r.attemptsA} | ${r.attemptsB} |`).join('\n');
}

/**
 * B's failed gateway attempts by response code (and A's beside them), split by what Precheck could
 * have known before the attempt: the card never attempted before in the run (nothing to screen
 * on), a card attempted in an earlier order (its history was there), the same card again in this
 * order (the decline just before was there); and by the answer the attempt followed (stage, and
 * whether it was a review). Fraud orders included, as in the attempt success rate.
 */
export interface FailedAttemptRow {
  code: string;
  failedA: number;
  failedB: number;
  /** The card's first attempt in the run: no history anywhere. */
  neverSeen: number;
  /** The card's first attempt in this order, but attempted in an earlier order. */
  earlierOrder: number;
  /** Not the card's first attempt in this order. */
  repeatInOrder: number;
  afterLocal: number;
  afterNetwork: number;
  afterReview: number;
}

export function failedAttemptBreakdown(a: readonly OrderResult[], b: readonly OrderResult[]): FailedAttemptRow[] {
  const rows = new Map<string, FailedAttemptRow>();
  const row = (code: string) => {
    let r = rows.get(code);
    if (!r) rows.set(code, (r = { code, failedA: 0, failedB: 0, neverSeen: 0, earlierOrder: 0, repeatInOrder: 0, afterLocal: 0, afterNetwork: 0, afterReview: 0 }));
    return r;
  };
  for (const r of a) for (const x of r.attemptLog) if (x.status !== 'success') row(x.code ?? '(none)').failedA++;
  const seen = new Set<string>();
  for (const r of b) {
    for (const x of r.attemptLog) {
      const known = seen.has(x.card);
      seen.add(x.card);
      if (x.status === 'success') continue;
      const w = row(x.code ?? '(none)');
      w.failedB++;
      if ((x.cardAttempt ?? 1) > 1) w.repeatInOrder++;
      else if (known) w.earlierOrder++;
      else w.neverSeen++;
      if (x.stage === 'local') w.afterLocal++;
      else if (x.stage === 'network') w.afterNetwork++;
      if (x.answer?.startsWith('review:')) w.afterReview++;
    }
  }
  return [...rows.values()].sort((x, y) => y.failedB - x.failedB || y.failedA - x.failedA);
}

export function failedAttemptMarkdown(rows: readonly FailedAttemptRow[]): string {
  const sum = (f: (r: FailedAttemptRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const all: FailedAttemptRow = { code: '**all**', failedA: sum((r) => r.failedA), failedB: sum((r) => r.failedB), neverSeen: sum((r) => r.neverSeen), earlierOrder: sum((r) => r.earlierOrder), repeatInOrder: sum((r) => r.repeatInOrder), afterLocal: sum((r) => r.afterLocal), afterNetwork: sum((r) => r.afterNetwork), afterReview: sum((r) => r.afterReview) };
  const head = '| code | failed A | failed B | B: card never attempted before | B: card from an earlier order | B: same card again in the order | B after a local answer | B after a network answer | B after a review |\n|---|---|---|---|---|---|---|---|---|\n';
  return head + [...rows, all].map((r) => `| ${r.code} | ${r.failedA} | ${r.failedB} | ${r.neverSeen} | ${r.earlierOrder} | ${r.repeatInOrder} | ${r.afterLocal} | ${r.afterNetwork} | ${r.afterReview} |`).join('\n');
}
