// Why arm B's gateway attempts fail (issue 11's attempt-success target; bench/REPORT.md). Not part
// of `npm run bench`:
//   nice -n 10 node --import tsx bench/attempt-causes.ts bench/scenarios/NAME.json [OUT.json]
// (steady is scaled by BENCH_SIM_STEADY_DAYS as in the bench)
// plays the scenario exactly as bench/simulator.bench.ts does (same simulate() call and target, so
// the same seeded figures), prints the headline B − A figures, then every arm-B attempt by what
// was known of the card before it and where it went, with the failures by response code:
//   new                 the card's first attempt in the run; "best-gw" when the gateway's acceptance
//                       for the card's segment (the scenario's table, drift included) is within a
//                       point of the best gateway's, else "worse-gw" (domestic / cross-border)
//   ret:to-approving-gw a card from an earlier order sent to the gateway that approved it last
//   ret:approved-elsewhere  ... sent to another gateway (":sent-to-05-gw" when that one had
//                       declined it with 05)
//   ret:no-approval     a card from an earlier order that was never approved
//   same                the same card again in this order ("to-05-gw" after a 05 there)
// each split by the stage of the answer the attempt followed (local = the device, network). It
// also sums, over new payable cards, the acceptance lost against each segment's best gateway (the
// failures routing alone could have avoided, in expectation). OUT.json (optional) gets the
// orders (card ids, brand, country, hidden state; never a card number) and both arms' logs;
// bench/attempt-hours.ts reads it for the same figures hour by hour.
import fs from 'node:fs';
import { loadScenario } from '../tools/simulator/scenario.ts';
import { simulate, type SimulationReport } from '../tools/simulator/simulate.ts';
import { startSimDevice } from '../tools/simulator/simulate-device.ts';
import { successRate } from '../tools/simulator/gateway.ts';
import type { OrderResult } from '../tools/simulator/engine.ts';
import type { Market } from '../tools/simulator/market.ts';
import { scaled } from './simulator.bench.ts';

/** Hidden card states that can pay at some gateway (the acceptance lost is counted on these). */
export const PAYABLE = new Set(['good', 'issuer_unavailable', 'low_balance', 'over_limit']);

export function attemptCauses(market: Market, b: readonly OrderResult[]): { all: Map<string, number>; failed: Map<string, number>; expectedLoss: number } {
  const s = market.scenario;
  const all = new Map<string, number>();
  const failed = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const seen = new Map<string, Array<{ gateway: string; ok: boolean; code: string | null; order: string }>>();
  let expectedLoss = 0;
  b.forEach((r, i) => {
    const o = market.orders[i];
    for (const at of r.attemptLog) {
      const card = o.cards.find((c) => c.id === at.card)!;
      const xb = card.issuerCountry !== s.merchant.country;
      const h = seen.get(at.card) ?? [];
      const earlier = h.filter((x) => x.order !== o.id);
      const declined05 = new Set(h.filter((x) => x.code === '05').map((x) => x.gateway));
      const approvedLast = earlier.filter((x) => x.ok).at(-1)?.gateway ?? null;
      let why: string;
      if (h.some((x) => x.order === o.id)) why = declined05.has(at.gateway) ? 'same:to-05-gw' : 'same:other';
      else if (earlier.length > 0) {
        if (approvedLast === null) why = 'ret:no-approval';
        else if (approvedLast === at.gateway) why = 'ret:to-approving-gw';
        else why = declined05.has(at.gateway) ? 'ret:approved-elsewhere:sent-to-05-gw' : 'ret:approved-elsewhere';
      } else {
        const rates = s.gateways.map((g) => ({ name: g.name, rate: successRate(g, card.brand, xb, o.t / 3600) }));
        const best = Math.max(...rates.map((x) => x.rate));
        const mine = rates.find((x) => x.name === at.gateway)!.rate;
        why = mine >= best - 0.01 ? 'new:best-gw' : `new:worse-gw(${xb ? 'xb' : 'dom'})`;
        if (!card.fraudster && PAYABLE.has(card.state)) expectedLoss += best - mine;
      }
      const key = `${why} ${at.stage ?? '-'}`;
      bump(all, key);
      if (at.status !== 'success') bump(failed, `${at.code ?? '(none)'} ${key}`);
      h.push({ gateway: at.gateway, ok: at.status === 'success', code: at.code, order: o.id });
      seen.set(at.card, h);
    }
  });
  return { all, failed, expectedLoss };
}

/** The run's B − A figures on one line (this tool's and bench/routing-oracle.ts's first line). */
export function headline(report: SimulationReport): string {
  const c = report.comparison;
  const pt = (x: { estimate: number; low: number; high: number }) => `${(x.estimate * 100).toFixed(2)} pt [${(x.low * 100).toFixed(2)}, ${(x.high * 100).toFixed(2)}]`;
  const { A, B } = report.arms;
  return `conversion B − A ${pt(c.successRate)}; attempt success B − A ${pt(c.attemptSuccessRate)} (A ${(A.attemptSuccessRate * 100).toFixed(2)} % → B ${(B.attemptSuccessRate * 100).toFixed(2)} %); fees per paid order A ${(A.feesPerPaid / 100).toFixed(3)} → B ${(B.feesPerPaid / 100).toFixed(3)}; false declines ${B.falseDeclines}/${B.payableVerifies}; fraud paid ${B.fraudLetThrough}/${B.fraudOrders}`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [file, out] = process.argv.slice(2);
  if (!file) throw new Error('usage: node --import tsx bench/attempt-causes.ts SCENARIO.json [OUT.json]');
  const scenario = scaled(loadScenario(file)).scenario; // steady: BENCH_SIM_STEADY_DAYS, as the bench plays it
  const { report, market, a, b } = await simulate({ scenario, target: { kind: 'self-contained', verifier: 'device', startDevice: startSimDevice, syncFollow: true } });
  process.stdout.write(`${scenario.name}: ${headline(report)}\n`);
  const { all, failed, expectedLoss } = attemptCauses(market, b);
  const rows = (m: Map<string, number>) => [...m].sort((x, y) => y[1] - x[1]).map(([k, v]) => `  ${k}: ${v}`).join('\n');
  process.stdout.write(`arm B attempts by cause and stage:\n${rows(all)}\nfailed, by code:\n${rows(failed)}\nexpected acceptance lost on new payable cards against each segment's best gateway: ${expectedLoss.toFixed(1)} attempts\n`);
  if (out) {
    const orders = market.orders.map((o) => ({ id: o.id, t: o.t, fraud: o.fraud, currency: o.currency, amount: o.amount, cards: o.cards.map((x) => ({ id: x.id, brand: x.brand, country: x.issuerCountry, state: x.state })) }));
    fs.writeFileSync(out, JSON.stringify({ orders, a, b }));
  }
}
