// Market simulator benchmark: does Precheck raise payment success and lower collection cost?
//
// Run alone:   node --import tsx bench/simulator.bench.ts [scenario.json ...]
// Or with all: npm run bench   (bench/run.ts collects run())
//
// Method. Every scenario in bench/scenarios/*.json (or the files named on the command line) is
// played twice over the SAME order stream (same orders, amounts, cards, customers; per-order
// random sub-streams): arm A sends each attempt to a uniformly random gateway with no precheck;
// arm B asks a real host bridge (POST /v1/verify) before every attempt, follows its answer
// (decline → the customer may switch card; review → the prompt: 3-D Secure, enable international
// payments, smaller amount, try later; approve → the recommended gateway) and reports every
// gateway outcome (POST /v1/outcomes) so the network service learns. The bridge and the network
// service are the real ones, started on loopback in temp dirs and running on the simulated clock;
// no verifier devices (network stage only), with an in-process stand-in that computes card tokens
// (host-bridge/simulator/token-verifier.ts). Intervals: paired bootstrap over orders, 2000
// resamples, percentile 95%. Success rate counts legitimate orders only; attempts and fees per
// paid order divide ALL attempts and fees (fraud orders' included) by paid legitimate orders.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, SummaryRow } from './run.ts';
import { loadScenario } from '../host-bridge/simulator/scenario.ts';
import { simulate, type SimulationReport } from '../host-bridge/simulator/simulate.ts';
import { gatewayLine, markdownReport } from '../host-bridge/simulator/report.ts';
import { answerBreakdown, breakdownMarkdown } from '../host-bridge/simulator/breakdown.ts';
import type { Interval } from '../host-bridge/simulator/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIRST = ['calm.json', 'drift-outage.json', 'fraud-wave.json'];

function scenarioFiles(args: string[]): string[] {
  if (args.length > 0) return args.map((a) => path.resolve(a));
  const dir = path.join(here, 'scenarios');
  const all = readdirSync(dir).filter((f) => f.endsWith('.json'));
  all.sort((a, b) => (FIRST.indexOf(a) + 1 || 99) - (FIRST.indexOf(b) + 1 || 99) || a.localeCompare(b));
  return all.map((f) => path.join(dir, f));
}

const pts = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)} pt`;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const major = (minor: number) => `${minor >= 0 ? '' : '-'}${(Math.abs(minor) / 100).toFixed(3)}`;
const ci = (i: Interval, f: (x: number) => string) => `${f(i.estimate)} [${f(i.low)}, ${f(i.high)}]`;

function summaryRows(r: SimulationReport): SummaryRow[] {
  const { A, B } = r.arms;
  const c = r.comparison;
  const feeSaving = A.feesPerPaid === 0 ? 0 : -c.feesPerPaid.estimate / A.feesPerPaid;
  return [
    { figure: `simulator ${r.scenario}: order success rate, B − A (95% CI)`, value: ci(c.successRate, pts), bound: `A ${pct(A.successRate)} → B ${pct(B.successRate)}` },
    { figure: `simulator ${r.scenario}: fees per paid order, B − A (95% CI)`, value: ci(c.feesPerPaid, major), bound: `A ${major(A.feesPerPaid)} → B ${major(B.feesPerPaid)}`, ratio: `${feeSaving >= 0 ? '' : '+'}${(Math.abs(feeSaving) * 100).toFixed(1)}% ${feeSaving >= 0 ? 'saved' : 'more'}` },
    { figure: `simulator ${r.scenario}: attempts per paid order, B − A (95% CI)`, value: ci(c.attemptsPerPaid, (x) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`), bound: `A ${A.attemptsPerPaid.toFixed(3)} → B ${B.attemptsPerPaid.toFixed(3)}` },
    { figure: `simulator ${r.scenario}: false-decline rate (good cards declined by Precheck)`, value: `${pct(B.falseDeclineRate)} (${B.falseDeclines}/${B.payableVerifies})` },
    { figure: `simulator ${r.scenario}: fraud orders paid`, value: `A ${A.fraudLetThrough}/${A.fraudOrders} → B ${B.fraudLetThrough}/${B.fraudOrders}`, bound: ci(c.fraudLetThroughRate, pts) },
  ];
}

export async function run(files: string[] = []): Promise<BenchResult> {
  const reports: SimulationReport[] = [];
  const sections: string[] = [];
  for (const f of scenarioFiles(files)) {
    const scenario = loadScenario(f);
    process.stderr.write(`bench: simulator ${scenario.name} (${scenario.orders} orders) ...\n`);
    const { report, a, b } = await simulate({ scenario, target: { kind: 'self-contained', verifier: 'token' } });
    reports.push(report);
    const warn = report.warnings.length ? `\n\n${report.warnings.map((w) => `> warning: ${w}`).join('\n')}` : '';
    const stages = report.precheck ? Object.entries(report.precheck.stages).map(([k, v]) => `${k} ${v}`).join(', ') : '';
    const reasons = report.precheck
      ? Object.entries(report.precheck.reasons)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 8)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : '';
    sections.push(
      `### ${report.scenario}: ${report.description}\n\nSeed ${report.seed}, ${report.orders} orders (${report.arms.A.legitOrders} legitimate, ${report.arms.A.fraudOrders} fraud); arm B ${(report.durationMs.B / 1000).toFixed(1)} s over HTTP. Money in major units of the merchant currency.\n\n${markdownReport(report)}\n\nPrecheck answers by stage: ${stages}. Most frequent decision:reason: ${reasons}.\n\nGateways, A: ${gatewayLine(report.gateways.A)}. B: ${gatewayLine(report.gateways.B)}.\n\nLegitimate orders by the FIRST Precheck answer in B:\n\n${breakdownMarkdown(answerBreakdown(a, b, 'first'), 'first answer')}\n\n...and by the LAST answer (the one the order ended on):\n\n${breakdownMarkdown(answerBreakdown(a, b, 'last'), 'last answer')}${warn}`,
    );
  }
  const method = `Same orders played twice: **A** no precheck, uniformly random gateway per attempt; **B** every attempt verified first through a real host bridge (\`POST /v1/verify\`) backed by a real network service, every gateway outcome reported (\`POST /v1/outcomes\`), both on loopback and on the simulated clock. Network stage only (no verifier devices; an in-process stand-in computes card tokens and escalates). 95% intervals: paired bootstrap over orders (2000 resamples, percentile). Success rate over legitimate orders; attempts and fees per paid order = all attempts/fees (fraud included) ÷ paid legitimate orders; false-decline rate = Precheck declines of a legitimate card that could have paid ÷ verifications of such cards. Scenarios and the sources of their numbers: \`bench/scenarios/README.md\`.`;
  return { title: 'Market simulator: Precheck vs no precheck', markdown: `${method}\n\n${sections.join('\n\n')}`, summary: reports.flatMap(summaryRows) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run(process.argv.slice(2));
  process.stdout.write(`${r.markdown}\n\n| figure | value | bound | ratio |\n|---|---|---|---|\n${(r.summary ?? []).map((s) => `| ${s.figure} | ${s.value} | ${s.bound ?? ''} | ${s.ratio ?? ''} |`).join('\n')}\n`);
}
