// The gateway router's success estimator against the market's truth (issue 11, bench/REPORT.md
// "The success estimator"). Two steps, not part of `npm run bench`:
//   node --import tsx bench/router-replay.ts log OUT.jsonl bench/scenarios/NAME.json
//     plays the scenario as bench/simulator.bench.ts does (same output on stdout) and writes every
//     arm-B outcome, with the card's id and hidden state, to OUT.jsonl;
//   node --import tsx bench/router-replay.ts replay OUT.jsonl bench/scenarios/NAME.json [ROUTER_MODULE]
//     feeds those outcomes in time order through GatewayRouter (server/routing/router.ts, or another
//     checkout's) and prints, per gateway × segment, the router's brand × region × currency rate
//     (shrunk, as it ranks) against the scenario's acceptance for a payable card, hour by hour
//     from hour 6, and how much acceptance the gateway it ranks first loses to the market's best.
import fs from 'node:fs';
import path from 'node:path';
import { BridgeClient } from '../tools/simulator/bridge-client.ts';
import { simulatedStart } from '../tools/simulator/self-contained.ts';
import { loadScenario } from '../tools/simulator/scenario.ts';
import { successRate } from '../tools/simulator/gateway.ts';
import { segmentKeys } from '../server/routing/segment.ts';
import type { RoutingOutcome } from '../server/routing/router.ts';

interface Logged {
  startAt: number;
  card: string;
  state: string;
  fraud: boolean;
  brand: string;
  country: string;
  currency: string;
  amount: number;
  gateway: string;
  status: 'success' | 'failure';
  code: string | null;
  type: string | null;
  at: number;
}

async function log(out: string, scenario: string): Promise<void> {
  const startAt = simulatedStart(); // the clock startSelfContained will start at
  const fd = fs.openSync(out, 'w');
  const report = BridgeClient.prototype.report;
  BridgeClient.prototype.report = async function (o) {
    const row: Logged = { startAt, card: o.card.id, state: o.card.state, fraud: o.order.fraud, brand: o.card.brand, country: o.card.issuerCountry, currency: o.currency, amount: o.amount, gateway: o.gateway, status: o.status, code: o.code, type: o.type, at: o.at };
    fs.writeSync(fd, `${JSON.stringify(row)}\n`);
    return report.call(this, o);
  };
  const { run } = await import('./simulator.bench.ts');
  const r = await run([scenario]);
  fs.closeSync(fd);
  process.stdout.write(`${r.markdown}\n\n| figure | value | bound | ratio |\n|---|---|---|---|\n${(r.summary ?? []).map((s) => `| ${s.figure} | ${s.value} | ${s.bound ?? ''} | ${s.ratio ?? ''} |`).join('\n')}\n`);
}

const SEGMENTS = [
  { name: 'visa cross-border EUR (US card)', brand: 'visa', issuerCountry: 'US', crossBorder: true, currency: 'EUR' },
  { name: 'visa domestic EUR', brand: 'visa', issuerCountry: 'DE', crossBorder: false, currency: 'EUR' },
  { name: 'mastercard cross-border EUR (GB card)', brand: 'mastercard', issuerCountry: 'GB', crossBorder: true, currency: 'EUR' },
  { name: 'mastercard domestic EUR', brand: 'mastercard', issuerCountry: 'DE', crossBorder: false, currency: 'EUR' },
];
const AMOUNT = 4500;
const FROM_HOUR = 6;

async function replay(file: string, scenario: string, routerModule: string): Promise<void> {
  const { GatewayRouter } = (await import(path.resolve(routerModule))) as typeof import('../server/routing/router.ts');
  const s = loadScenario(scenario);
  const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Logged).sort((a, b) => a.at - b.at);
  const startAt = rows[0].startAt;
  const clock = { t: startAt };
  const router = new GatewayRouter({ gateways: s.gateways.map((g) => ({ id: g.name, feeFixedMinor: g.feeFixed, feeBps: g.feeBps })), clock: () => clock.t * 1000, explorationShare: 0.05 });
  // the shrunk rate at brand+region+currency, as recommend() ranks with it (a private method)
  const levelRate = (keys: string[], gateway: string, now: number): number | null =>
    (router as unknown as { levelRates(k: string[], g: string, n: number): Array<{ rate: number | null }> }).levelRates(keys, gateway, now)[2].rate;
  const cells = new Map<string, { est: number; truth: number; err: number; n: number }>();
  const ranks = new Map<string, { best: number; hours: number; lost: number }>();
  let i = 0;
  for (let h = 1; h <= s.durationHours; h++) {
    const until = startAt + h * 3600;
    for (; i < rows.length && rows[i].at < until; i++) {
      const o = rows[i];
      clock.t = o.at;
      const outcome: RoutingOutcome = { gateway: o.gateway, brand: o.brand, issuerCountry: o.country, crossBorder: o.country !== s.merchant.country, currency: o.currency, amount: o.amount, status: o.status, type: (o.type as RoutingOutcome['type']) ?? null, code: o.code, at: o.at, card: o.card };
      router.record(outcome);
    }
    clock.t = until;
    if (h < FROM_HOUR) continue;
    for (const seg of SEGMENTS) {
      const keys = segmentKeys({ ...seg, amount: AMOUNT });
      const truth = new Map(s.gateways.map((g) => [g.name, successRate(g, seg.brand, seg.crossBorder, h)]));
      for (const g of s.gateways) {
        const est = levelRate(keys, g.name, until);
        if (est === null) continue;
        const c = cells.get(`${seg.name}|${g.name}`) ?? { est: 0, truth: 0, err: 0, n: 0 };
        c.est += est;
        c.truth += truth.get(g.name)!;
        c.err += Math.abs(est - truth.get(g.name)!);
        c.n++;
        cells.set(`${seg.name}|${g.name}`, c);
      }
      const first = router.ranking({ ...seg, amount: AMOUNT }, until)[0].gateway;
      const best = Math.max(...truth.values());
      const r = ranks.get(seg.name) ?? { best: 0, hours: 0, lost: 0 };
      r.hours++;
      r.lost += best - truth.get(first)!;
      if (truth.get(first)! >= best - 0.005) r.best++;
      ranks.set(seg.name, r);
    }
  }
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(`${file}: ${rows.length} outcomes through ${routerModule}; hours ${FROM_HOUR}..${s.durationHours}; ${JSON.stringify(router.stats().repeats ?? null)} repeat answers left out\n`);
  console.log('| segment | gateway | estimate (mean) | market (mean) | mean abs error |\n|---|---|---|---|---|');
  for (const [k, c] of cells) console.log(`| ${k.split('|').join(' | ')} | ${pct(c.est / c.n)} | ${pct(c.truth / c.n)} | ${(100 * c.err / c.n).toFixed(1)} pt |`);
  console.log('\n| segment | hours the first-ranked gateway is the best (±0.5 pt) | acceptance lost to the best (mean) |\n|---|---|---|');
  for (const [k, r] of ranks) console.log(`| ${k} | ${r.best}/${r.hours} | ${(100 * r.lost / r.hours).toFixed(2)} pt |`);
}

const [mode, file, scenario, routerModule] = process.argv.slice(2);
if (mode === 'log' && file && scenario) await log(file, scenario);
else if (mode === 'replay' && file && scenario) await replay(file, scenario, routerModule ?? path.join(import.meta.dirname, '../server/routing/router.ts'));
else {
  process.stderr.write('usage: router-replay.ts log OUT.jsonl SCENARIO.json | replay OUT.jsonl SCENARIO.json [ROUTER_MODULE]\n');
  process.exitCode = 2;
}
