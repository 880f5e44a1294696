import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ScenarioError, loadScenario, parseScenario } from '../../tools/simulator/scenario.ts';

const dir = path.resolve(import.meta.dirname, '../../bench/scenarios');
const calm = () => JSON.parse(fs.readFileSync(path.join(dir, 'calm.json'), 'utf8')) as Record<string, any>;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-scen-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function errorOf(f: () => unknown): ScenarioError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    expect((e as Error).message).not.toContain('\n');
    return e as ScenarioError;
  }
  throw new Error('expected a ScenarioError');
}

describe('scenario files', () => {
  it('loads every bench scenario (at least calm, drift-outage, fraud-wave)', () => {
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    for (const want of ['calm.json', 'drift-outage.json', 'fraud-wave.json']) expect(files).toContain(want);
    for (const f of files) {
      const s = loadScenario(path.join(dir, f));
      expect(s.gateways.length).toBeGreaterThan(0);
      expect(s.orders).toBeGreaterThan(0);
    }
  });

  it('fills defaults: merchant currency at fx 1, charge technical failures', () => {
    const raw = calm();
    delete raw.orderCurrencies;
    delete raw.fx;
    delete raw.chargeTechnicalFailures;
    const s = parseScenario(raw, 't.json');
    expect(s.orderCurrencies).toEqual({ EUR: 1 });
    expect(s.fx.EUR).toBe(1);
    expect(s.chargeTechnicalFailures).toBe(true);
  });

  it.each([
    ['a probability above 1', (r: any) => (r.customers.switchCardWhenPrompted = 1.5), 'customers.switchCardWhenPrompted must be a number from 0 to 1'],
    ['a missing required key', (r: any) => delete r.seed, 'seed is required'],
    ['an unknown key (typo)', (r: any) => (r.customers.switchCardWhenPromted = 0.5), 'customers.switchCardWhenPromted is not a known key'],
    ['an unknown card state', (r: any) => (r.cards.states.frozen = 0.1), 'cards.states.frozen is not a card state'],
    ['an unsupported brand', (r: any) => (r.cards.brands.diners = 0.1), 'cards.brands.diners is not a supported brand'],
    ['all-zero weights', (r: any) => (r.cards.brands = { visa: 0 }), 'cards.brands needs at least one positive weight'],
    ['retry + switch above 1', (r: any) => ((r.customers.retrySameAfterDecline = 0.7), (r.customers.switchCardAfterDecline = 0.5)), 'customers.retrySameAfterDecline + switchCardAfterDecline must be at most 1'],
    ['a duplicate gateway', (r: any) => r.gateways.push({ ...r.gateways[0] }), 'gateways[3].name is used by another gateway'],
    ['a gateway without a default rate', (r: any) => delete r.gateways[0].successRates.default, 'gateways[0].successRates.default is required'],
    ['a bad segment key', (r: any) => (r.gateways[1].successRates['visa:abroad'] = 0.5), "gateways[1].successRates.visa:abroad is not a segment key"],
    ['an outage ending before it starts', (r: any) => (r.gateways[0].outages = [{ fromHour: 5, toHour: 2, failureRate: 0.5 }]), 'gateways[0].outages[0].toHour must be after fromHour'],
    ['an order currency without fx', (r: any) => (r.orderCurrencies.JPY = 0.1), 'fx.JPY is required for order currency JPY'],
    ['a non-integer order count', (r: any) => (r.orders = 10.5), 'orders must be an integer'],
    ['amounts.max below min', (r: any) => (r.amounts.max = 10), 'amounts.max must be at least amounts.min'],
  ])('refuses %s with a one-line error naming the key', (_what, mutate, message) => {
    const raw = calm();
    mutate(raw);
    const e = errorOf(() => parseScenario(raw, 'x.json'));
    expect(e.message.startsWith('x.json: ')).toBe(true);
    expect(e.message).toContain(message);
  });

  it('refuses unreadable files and bad JSON with the file name', () => {
    expect(errorOf(() => loadScenario(path.join(tmp, 'nope.json'))).message).toBe('nope.json: cannot read scenario file (ENOENT)');
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"name": ');
    expect(errorOf(() => loadScenario(bad)).message).toMatch(/^bad\.json: not valid JSON/);
    const arr = path.join(tmp, 'arr.json');
    fs.writeFileSync(arr, '[]');
    expect(errorOf(() => loadScenario(arr)).message).toBe('arr.json: (root) must be an object (got [])');
  });
});
