// Issuer unavailability comes in spells (a retry 30 s after a 91 meets the same outage, a wait of
// minutes may not), and the per-answer breakdown attributes paid / lost orders to Precheck answers.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../tools/simulator/scenario.ts';
import { buildMarket, type SimOrder } from '../../tools/simulator/market.ts';
import { ISSUER_SPELL_SECONDS, runArm, type PrecheckPort } from '../../tools/simulator/engine.ts';
import { answerBreakdown, breakdownMarkdown } from '../../tools/simulator/breakdown.ts';

const raw = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../bench/scenarios/calm.json'), 'utf8'));

describe('issuer unavailability spells', () => {
  it('gives the same issuer answer to attempts inside one spell and fresh ones across spells', async () => {
    // Every card's issuer is unavailable half the time; the gateway itself always accepts.
    const s = parseScenario(
      {
        ...raw,
        cards: { ...raw.cards, states: { issuer_unavailable: 1 }, issuerUnavailableRate: 0.5 },
        gateways: raw.gateways.map((g: Record<string, unknown>) => ({ ...g, successRates: { default: 1 }, technicalFailureRate: 0 })),
        customers: { ...raw.customers, retrySameAfterDecline: 1, switchCardAfterDecline: 0, maxAttemptsPerOrder: 4 },
      },
      'spells.json',
    );
    const market = buildMarket(s, { orders: 400 });
    const a = await runArm(market, null);
    // Retries come 30 s apart: inside one spell (15 min) a 91/96 is followed by another 91/96
    // unless the retry crossed a spell boundary.
    let sameSpellFollowUps = 0;
    let sameSpellRepeats = 0;
    for (let i = 0; i < a.length; i++) {
      const o: SimOrder = market.orders[i];
      const log = a[i].attemptLog;
      for (let k = 1; k < log.length; k++) {
        const t0 = o.t + 30 * (k - 1);
        const t1 = o.t + 30 * k;
        if (Math.floor(t0 / ISSUER_SPELL_SECONDS) !== Math.floor(t1 / ISSUER_SPELL_SECONDS)) continue;
        if (log[k - 1].code === '91' || log[k - 1].code === '96') {
          sameSpellFollowUps++;
          if (log[k].code === '91' || log[k].code === '96') sameSpellRepeats++;
        }
      }
    }
    expect(sameSpellFollowUps).toBeGreaterThan(50);
    expect(sameSpellRepeats).toBe(sameSpellFollowUps);
    // ...while first attempts across orders still see the configured rate (~50%).
    const firstUnavailable = a.filter((r) => r.attemptLog[0]?.code === '91' || r.attemptLog[0]?.code === '96').length / a.length;
    expect(firstUnavailable).toBeGreaterThan(0.4);
    expect(firstUnavailable).toBeLessThan(0.6);
  });
});

describe('per-answer breakdown', () => {
  it('attributes every legitimate order to its first (or last) Precheck answer with paid/lost/won counts', async () => {
    const s = parseScenario(raw, 'calm.json');
    const market = buildMarket(s, { orders: 200 });
    const port: PrecheckPort = {
      async verify(req) {
        return req.card.state === 'low_balance'
          ? { decision: 'decline', reason: 'restricted', promptCode: 'use_another_card', gateway: null }
          : { decision: 'approve', reason: 'known_good', promptCode: null, gateway: null };
      },
      async report() {},
    };
    const a = await runArm(market, null);
    const b = await runArm(market, port);
    const rows = answerBreakdown(a, b, 'first');
    const legit = b.filter((r) => !r.fraud).length;
    expect(rows.reduce((n, r) => n + r.orders, 0)).toBe(legit);
    expect(rows.reduce((n, r) => n + r.paidA, 0)).toBe(a.filter((r) => !r.fraud && r.paid).length);
    expect(rows.reduce((n, r) => n + r.paidB, 0)).toBe(b.filter((r) => !r.fraud && r.paid).length);
    for (const r of rows) expect(r.paidB - r.paidA).toBe(r.won - r.lost);
    const declined = rows.find((r) => r.answer === 'decline:restricted:use_another_card');
    expect(declined?.orders).toBeGreaterThan(0);
    expect(breakdownMarkdown(rows, 'first answer')).toContain('| decline:restricted:use_another_card |');
  });
});
