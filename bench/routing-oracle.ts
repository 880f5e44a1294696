// What routing alone could still add (issue 11's attempt-success target; bench/REPORT.md). Not
// part of `npm run bench`:
//   nice -n 10 node --import tsx bench/routing-oracle.ts bench/scenarios/NAME.json
// (steady is scaled by BENCH_SIM_STEADY_DAYS as in the bench)
// plays the scenario exactly as bench/simulator.bench.ts does, except that every gateway Precheck
// names is replaced by an oracle's: the gateway that approved this card before (a card's answer at
// a gateway tends to repeat there), else the gateway with the best acceptance for the card's
// segment in the scenario's own table at that hour (drift, outages and everyday technical failures
// included) among those that have not declined this card in the run. Precheck's decisions,
// prompts, screening and learning are untouched (it learns from the oracle's attempts), so the
// difference to the normal run is what a router that knew the market could have added. It is an
// upper reference, not a policy: nothing real knows the table.
import { loadScenario } from '../tools/simulator/scenario.ts';
import { simulate } from '../tools/simulator/simulate.ts';
import { startSimDevice } from '../tools/simulator/simulate-device.ts';
import { inOutage, successRate } from '../tools/simulator/gateway.ts';
import { ScheduledSyncPort } from '../tools/simulator/sim-clock.ts';
import type { ReportedOutcome, VerifyDecision, VerifyRequest } from '../tools/simulator/engine.ts';
import { attemptCauses } from './attempt-causes.ts';
import { scaled } from './simulator.bench.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: node --import tsx bench/routing-oracle.ts SCENARIO.json');
const scenario = scaled(loadScenario(file)).scenario; // steady: BENCH_SIM_STEADY_DAYS, as the bench plays it
const s = scenario;
let startAt: number | null = null;
const history = new Map<string, { approved: string | null; declined: Set<string> }>();
let overridden = 0;
let kept = 0;

const verify = ScheduledSyncPort.prototype.verify;
ScheduledSyncPort.prototype.verify = async function (req: VerifyRequest): Promise<VerifyDecision> {
  const d = await verify.call(this, req);
  startAt ??= req.at - req.order.t; // the first verification is at its order's own time
  if (d.gateway === null || d.decision === 'decline') return d;
  const hour = (req.at - startAt) / 3600;
  const xb = req.card.issuerCountry !== s.merchant.country;
  const h = history.get(req.card.id);
  let gateway: string;
  if (h?.approved && !h.declined.has(h.approved)) gateway = h.approved;
  else {
    const score = (g: (typeof s.gateways)[number]) => successRate(g, req.card.brand, xb, hour) * (1 - inOutage(g, hour)) * (1 - g.technicalFailureRate);
    const ranked = [...s.gateways].sort((x, y) => score(y) - score(x));
    gateway = (ranked.find((g) => !h?.declined.has(g.name)) ?? ranked[0]).name;
  }
  if (gateway === d.gateway) kept++;
  else overridden++;
  return { ...d, gateway };
};
const report = ScheduledSyncPort.prototype.report;
ScheduledSyncPort.prototype.report = async function (o: ReportedOutcome): Promise<void> {
  const h = history.get(o.card.id) ?? { approved: null, declined: new Set<string>() };
  if (o.status === 'success') {
    h.approved = o.gateway;
    h.declined.delete(o.gateway);
  } else if (o.type !== 'technical') h.declined.add(o.gateway);
  history.set(o.card.id, h);
  return report.call(this, o);
};

const { report: r, market, b } = await simulate({ scenario, target: { kind: 'self-contained', verifier: 'device', startDevice: startSimDevice, syncFollow: true } });
const c = r.comparison;
const pt = (x: { estimate: number; low: number; high: number }) => `${(x.estimate * 100).toFixed(2)} pt [${(x.low * 100).toFixed(2)}, ${(x.high * 100).toFixed(2)}]`;
const { A, B } = r.arms;
process.stdout.write(
  `${scenario.name} with the oracle's gateways: conversion B − A ${pt(c.successRate)}; attempt success B − A ${pt(c.attemptSuccessRate)} (A ${(A.attemptSuccessRate * 100).toFixed(2)} % → B ${(B.attemptSuccessRate * 100).toFixed(2)} %); fees per paid order A ${(A.feesPerPaid / 100).toFixed(3)} → B ${(B.feesPerPaid / 100).toFixed(3)}; false declines ${B.falseDeclines}/${B.payableVerifies}; fraud paid ${B.fraudLetThrough}/${B.fraudOrders}; Precheck's gateway kept ${kept}, replaced ${overridden}\n`,
);
const { expectedLoss } = attemptCauses(market, b);
process.stdout.write(`expected acceptance lost on new payable cards against each segment's best gateway: ${expectedLoss.toFixed(1)} attempts\n`);
