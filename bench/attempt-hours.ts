// Arm B's routing hour by hour (issue 11's attempt-success target), from the OUT.json that
// bench/attempt-causes.ts writes; no second simulation, so it runs in a second:
//   node --import tsx bench/attempt-hours.ts bench/scenarios/NAME.json OUT.json [HOURS_PER_ROW]
// One row per time slice (default 4 h) × region (dom / xb) × brand: the gateways within a point of
// the market's best for a new card of that segment and every gateway's rate (the scenario's table,
// drift included, at the slice's last new card); the acceptance lost against the best on new payable cards
// (the sum over rows is attempt-causes.ts's "expected acceptance lost"); where the segment's new
// cards went (gateway initial + L local / N network stage); timeouts by gateway; attempts and
// failed attempts of every kind. Then every TIMEOUT with its hour, gateway, stage and the answer
// it followed. Not part of `npm run bench`.
import fs from 'node:fs';
import { loadScenario } from '../tools/simulator/scenario.ts';
import { successRate } from '../tools/simulator/gateway.ts';
import { PAYABLE } from './attempt-causes.ts';


interface Dump {
  orders: Array<{ id: string; t: number; cards: Array<{ id: string; brand: string; country: string; state: string }> }>;
  b: Array<{ attemptLog: Array<{ card: string; gateway: string; status: string; code: string | null; stage?: string | null; answer?: string; cardAttempt?: number }> }>;
}

interface Row {
  best: string;
  loss: number;
  to: Map<string, number>;
  timeouts: Map<string, number>;
  attempts: number;
  failed: number;
}

const [scenarioFile, dumpFile, sliceArg] = process.argv.slice(2);
if (!scenarioFile || !dumpFile) {
  process.stderr.write('usage: node --import tsx bench/attempt-hours.ts SCENARIO.json OUT.json [HOURS_PER_ROW]\n');
  process.exit(2);
}
const s = loadScenario(scenarioFile);
const d = JSON.parse(fs.readFileSync(dumpFile, 'utf8')) as Dump;
const slice = Number(sliceArg ?? 4);
if (!(slice > 0)) throw new RangeError('HOURS_PER_ROW must be a positive number');
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
const seen = new Set<string>();
const rows = new Map<string, Row>();
const timeouts: string[] = [];
d.orders.forEach((o, i) => {
  const h = o.t / 3600;
  const from = Math.floor(h / slice) * slice;
  for (const at of d.b[i].attemptLog) {
    const card = o.cards.find((c) => c.id === at.card)!;
    const xb = card.country !== s.merchant.country;
    const key = `${String(from).padStart(3)}h ${xb ? 'xb ' : 'dom'} ${card.brand}`;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = { best: '', loss: 0, to: new Map(), timeouts: new Map(), attempts: 0, failed: 0 }));
    row.attempts++;
    if (at.status !== 'success') row.failed++;
    if (at.code === 'TIMEOUT') {
      bump(row.timeouts, at.gateway);
      timeouts.push(`${h.toFixed(2)} h ${at.gateway} ${at.stage ?? '-'} ${at.answer ?? ''} (the card's attempt ${at.cardAttempt ?? '?'} in the order)`);
    }
    if (seen.has(at.card)) continue;
    seen.add(at.card);
    const rates = s.gateways.map((g) => ({ name: g.name, rate: successRate(g, card.brand, xb, h) }));
    const best = Math.max(...rates.map((x) => x.rate));
    const mine = rates.find((x) => x.name === at.gateway)!.rate;
    bump(row.to, `${at.gateway[0]}${at.stage === 'local' ? 'L' : 'N'}`);
    row.best = `${rates.filter((x) => x.rate >= best - 0.01).map((x) => x.name).join('+')} (${rates.map((x) => `${x.name[0]} ${(x.rate * 100).toFixed(0)}`).join(', ')})`;
    if (PAYABLE.has(card.state)) row.loss += best - mine; // fraudsters' cards are 'fraud' or 'stolen_lost'
  }
});
const fmt = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || '-';
let total = 0;
const lines = [...rows.keys()].sort().map((k) => {
  const r = rows.get(k)!;
  total += r.loss;
  return `${k.padEnd(28)} best ${r.best.padEnd(34)} lost ${r.loss.toFixed(1).padStart(4)}  new cards to: ${fmt(r.to)}  timeouts: ${fmt(r.timeouts)}  attempts ${r.attempts}, failed ${r.failed}`;
});
process.stdout.write(`${lines.join('\n')}\nexpected acceptance lost on new payable cards: ${total.toFixed(1)} attempts\ntimeouts (${timeouts.length}):\n  ${timeouts.join('\n  ')}\n`);
