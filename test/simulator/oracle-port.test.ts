// The routing oracle (bench/routing-oracle.ts): a decorator that keeps Precheck's answers and
// replaces only their gateway with the one where the card's chance is highest in the market's own
// model (the scenario's acceptance by segment and hour, the card's own answers repeating).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../tools/simulator/scenario.ts';
import { OracleRoutingPort } from '../../tools/simulator/oracle-port.ts';
import { simulate } from '../../tools/simulator/simulate.ts';
import type { PrecheckPort, ReportedOutcome, VerifyDecision, VerifyRequest } from '../../tools/simulator/engine.ts';
import type { SimCard } from '../../tools/simulator/market.ts';

const load = (name: string) => parseScenario(JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, `../../bench/scenarios/${name}.json`), 'utf8')), `${name}.json`);
const calm = load('calm');
const drift = load('drift-outage');
const START = 1_800_000_000;

/** Answers every verification with `answer`, records the outcomes it is told. */
class ScriptedPort implements PrecheckPort {
  readonly reports: ReportedOutcome[] = [];
  advanced: number[] = [];
  constructor(private readonly answer: VerifyDecision) {}
  async verify(): Promise<VerifyDecision> {
    return this.answer;
  }
  async report(o: ReportedOutcome): Promise<void> {
    this.reports.push(o);
  }
  advanceTo(t: number): void {
    this.advanced.push(t);
  }
}

const card = (id: string, brand: string, issuerCountry: string) => ({ id, brand, issuerCountry }) as SimCard;
const request = (c: SimCard, hour: number) => ({ orderId: 'o1', order: { id: 'o1', t: hour * 3600 }, card: c, amount: 4500, currency: 'EUR', merchantCountry: 'DE', at: START + hour * 3600 }) as unknown as VerifyRequest;
const outcome = (c: SimCard, gateway: string, status: 'success' | 'failure', type: string | null = null) => ({ orderId: 'o1', card: c, gateway, status, code: status === 'success' ? null : type === 'technical' ? 'TIMEOUT' : '05', type, attempt: 1, amount: 4500, currency: 'EUR', at: START }) as unknown as ReportedOutcome;

describe('routing oracle', () => {
  it("replaces only the gateway, with the table's best for the card's segment", async () => {
    const inner = new ScriptedPort({ decision: 'approve', reason: 'trust_ok', promptCode: null, gateway: 'gamma', stage: 'local' });
    const oracle = new OracleRoutingPort(inner, calm, START);
    // calm: beta is best abroad (93 %), alpha at home for Visa (95 % vs beta's 94 %), beta for Amex
    expect(await oracle.verify(request(card('xb', 'visa', 'US'), 1))).toEqual({ decision: 'approve', reason: 'trust_ok', promptCode: null, gateway: 'beta', stage: 'local' });
    expect((await oracle.verify(request(card('dom', 'visa', 'DE'), 1))).gateway).toBe('alpha');
    expect((await oracle.verify(request(card('amex', 'american-express', 'DE'), 1))).gateway).toBe('beta');
    expect(oracle.counts).toEqual({ kept: 0, replaced: 3 });
    oracle.advanceTo(START + 60);
    expect(inner.advanced).toEqual([START + 60]);
  });

  it('leaves declines and answers without a gateway alone', async () => {
    const decline: VerifyDecision = { decision: 'decline', reason: 'restricted', promptCode: 'use_another_card', gateway: 'alpha' };
    expect(await new OracleRoutingPort(new ScriptedPort(decline), calm, START).verify(request(card('c', 'visa', 'US'), 1))).toEqual(decline);
    const none: VerifyDecision = { decision: 'review', reason: 'x', promptCode: '3ds_required', gateway: null };
    expect(await new OracleRoutingPort(new ScriptedPort(none), calm, START).verify(request(card('c', 'visa', 'US'), 1))).toEqual(none);
  });

  it("weighs a card's own answers as the market repeats them, and passes every outcome on", async () => {
    const inner = new ScriptedPort({ decision: 'approve', reason: 'x', promptCode: null, gateway: 'beta' });
    const oracle = new OracleRoutingPort(inner, calm, START); // declinePersistence 0.7: 0.49 of an answer repeats
    // approved at beta at home: 0.49 + 0.51 × 94 % = 96.9 % there, against alpha's 95 % for a new card
    const home = card('h', 'visa', 'DE');
    await oracle.report(outcome(home, 'beta', 'success'));
    expect((await oracle.verify(request(home, 2))).gateway).toBe('beta');
    // approved at gamma abroad: 0.49 + 0.51 × 80 % = 89.8 %, below beta's 93 %: moved
    const abroad = card('a', 'visa', 'US');
    await oracle.report(outcome(abroad, 'gamma', 'success'));
    expect((await oracle.verify(request(abroad, 2))).gateway).toBe('beta');
    // a 05 at beta abroad: 0.51 × 93 % there; alpha's 84 % next
    const declined = card('d', 'visa', 'US');
    await oracle.report(outcome(declined, 'beta', 'failure', 'soft'));
    expect((await oracle.verify(request(declined, 2))).gateway).toBe('alpha');
    // a timeout is the gateway's, not the card's
    const timedOut = card('t', 'visa', 'US');
    await oracle.report(outcome(timedOut, 'beta', 'failure', 'technical'));
    expect((await oracle.verify(request(timedOut, 2))).gateway).toBe('beta');
    // the latest answer counts: the card approved at beta at home, then a 05 there
    await oracle.report(outcome(home, 'beta', 'failure', 'soft'));
    expect((await oracle.verify(request(home, 2))).gateway).toBe('alpha');
    expect(inner.reports).toHaveLength(5);
    expect(oracle.counts).toEqual({ kept: 3, replaced: 2 });
  });

  it("follows the scenario's hours: outages and drift", async () => {
    const oracle = new OracleRoutingPort(new ScriptedPort({ decision: 'approve', reason: 'x', promptCode: null, gateway: 'alpha' }), drift, START);
    const xb = card('x', 'visa', 'US');
    expect((await oracle.verify(request(xb, 10))).gateway).toBe('beta');
    expect((await oracle.verify(request(xb, 15))).gateway).toBe('gamma'); // beta's outage (90 % timeouts), alpha drifted below gamma
    expect((await oracle.verify(request(xb, 20))).gateway).toBe('beta');
  });

  it('simulate() plays arm B through it on request and says so', async () => {
    const inner = new ScriptedPort({ decision: 'approve', reason: 'x', promptCode: null, gateway: 'gamma' });
    const run = await simulate({ scenario: calm, orders: 60, resamples: 50, target: { kind: 'in-process', precheck: inner, label: 'scripted' }, oracleRouting: true });
    expect(run.report.oracle!.kept + run.report.oracle!.replaced).toBe(run.report.arms.B.verifies);
    expect(run.report.oracle!.replaced).toBeGreaterThan(0);
    expect(run.report.target).toContain('oracle');
    expect(inner.reports).toHaveLength(run.report.arms.B.attempts);
    const plain = await simulate({ scenario: calm, orders: 60, resamples: 50, target: { kind: 'in-process', precheck: inner } });
    expect(plain.report.oracle).toBeNull();
  });
});
