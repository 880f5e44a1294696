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
