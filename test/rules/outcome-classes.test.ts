// The one outcome classification table (rules/response-codes.ts): code first, the
// gateway's type only where the code says nothing; the shared rules follow it.
import { describe, expect, it } from 'vitest';
import { decide, type DecisionInput } from '../../rules/decide.ts';
import { classifyOutcome } from '../../rules/response-codes.ts';
import type { HistoryEvent } from '../../protocol/dataset/types.ts';

const NOW = 1_800_000_000;
const fail = (code: string | undefined, ago: number, extra: Partial<HistoryEvent> = {}): HistoryEvent => ({ at: NOW - ago, amount: 2500, currency: 'EUR', status: 'failure', ...(code ? { code } : {}), ...extra });
const input = (history: HistoryEvent[], brand = 'visa'): DecisionInput => ({
  facts: { history, knownGood: true, brand },
  order: { amount: 2500, currency: 'EUR', crossBorder: false },
  now: NOW,
  dataState: 'fresh',
  stage: 'local',
});

describe('outcome classification table', () => {
  it('classes by code: card, issuer, gateway; approvals are approvals', () => {
    expect(classifyOutcome({ status: 'success' }).effect).toBe('approved');
    for (const code of ['04', '41', '43', '57', '51', '05', '54', 'XY']) expect(classifyOutcome({ status: 'failure', code }).effect, code).toBe('card');
    for (const code of ['91', '96', '19', 'N3']) expect(classifyOutcome({ status: 'failure', code }).effect, code).toBe('issuer');
    for (const code of ['TIMEOUT', '68', '92']) expect(classifyOutcome({ status: 'failure', code }).effect, code).toBe('gateway');
    expect(classifyOutcome({ status: 'failure', code: '41' })).toMatchObject({ hard: true, countsAsAttempt: true, internationalOnly: false });
    expect(classifyOutcome({ status: 'failure', code: '57' })).toMatchObject({ hard: true, internationalOnly: true });
    expect(classifyOutcome({ status: 'failure', code: '05', advice: '03' })).toMatchObject({ effect: 'card', hard: true });
  });

  it('fraud evidence (what zeroes the floor limits in a burst): fraud-typed outcomes and lost/stolen/fraud codes, not other hard codes', () => {
    for (const code of ['07', '41', '43', '59']) expect(classifyOutcome({ status: 'failure', code }).fraudEvidence, code).toBe(true);
    expect(classifyOutcome({ status: 'failure', code: '05', type: 'fraud' }).fraudEvidence).toBe(true);
    for (const code of ['04', '14', '46', '57', '62', 'R0', '05', '51', '91', 'TIMEOUT']) expect(classifyOutcome({ status: 'failure', code }).fraudEvidence, code).toBe(false);
    expect(classifyOutcome({ status: 'success' }).fraudEvidence).toBe(false);
  });

  it('a 91 is the same outcome with or without type technical', () => {
    const typed = classifyOutcome({ status: 'failure', code: '91', type: 'technical' });
    const bare = classifyOutcome({ status: 'failure', code: '91' });
    expect(typed).toEqual(bare);
    expect(bare).toMatchObject({ effect: 'issuer', hard: false, countsAsAttempt: false });
    expect(bare.soft).toMatchObject({ prompt: 'try_again_later', windowSeconds: 300 });
    // ...and the rules answer the same to both: "try again later" for five minutes.
    const a = decide(input([fail('91', 60, { type: 'technical' })]));
    const b = decide(input([fail('91', 60)]));
    expect(a).toEqual(b);
    expect(a).toMatchObject({ decision: 'review', reason: 'soft_decline', promptCode: 'try_again_later' });
    expect(decide(input([fail('91', 400, { type: 'technical' })]))).toMatchObject({ decision: 'approve' });
  });

  it('the type refines only what the code does not say; fraud always counts', () => {
    expect(classifyOutcome({ status: 'failure', type: 'technical' }).effect).toBe('gateway');
    expect(classifyOutcome({ status: 'failure', code: 'E42', type: 'technical' }).effect).toBe('gateway');
    expect(classifyOutcome({ status: 'failure', code: '51', type: 'technical' })).toMatchObject({ effect: 'card', soft: { prompt: 'try_smaller_amount' } });
    expect(classifyOutcome({ status: 'failure', type: 'hard' })).toMatchObject({ effect: 'card', hard: true });
    expect(classifyOutcome({ status: 'failure', code: '05', type: 'fraud' })).toMatchObject({ effect: 'card', hard: true, fraud: true });
    expect(classifyOutcome({ status: 'failure', code: '05' })).toMatchObject({ effect: 'card', hard: false, soft: null, countsAsAttempt: true });
  });

  it("the gateway's failures never count against the card", () => {
    // Timeouts: no review, no retry-limit count, and they do not hide the card's own soft decline.
    const timeouts = Array.from({ length: 20 }, (_, i) => fail('TIMEOUT', 10 + i, { type: 'technical' }));
    expect(decide(input(timeouts))).toMatchObject({ decision: 'approve', reason: 'known_good' });
    expect(decide(input([fail('51', 3600), ...timeouts]))).toMatchObject({ decision: 'review', reason: 'soft_decline', promptCode: 'try_smaller_amount' });
    // An unavailable issuer declined nothing: no retry-limit count either.
    const unavailable = Array.from({ length: 20 }, (_, i) => fail('96', 400 + i));
    expect(decide(input(unavailable)).reason).not.toBe('retry_limit');
    // Card-level declines do count (Visa: 15 in 30 days).
    const declines = Array.from({ length: 15 }, (_, i) => fail('05', 400 + i));
    expect(decide(input(declines))).toMatchObject({ decision: 'decline', reason: 'retry_limit' });
  });
});
