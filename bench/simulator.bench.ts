// Market simulator benchmark: does Precheck get more orders paid, for less, than the shop's best gateway?
//
// Run alone:   node --import tsx bench/simulator.bench.ts [scenario.json ...]
// Through the runner (writes bench/REPORT.md with just this section): npm run bench -- simulator
// Or with all: npm run bench
//
// Method. Every scenario in bench/scenarios/*.json (or the files named on the command line) is
// played twice over the SAME order stream (same orders, amounts, cards, customers; per-order
// random sub-streams): arm A sends every attempt to the shop's single best gateway, chosen from
// the scenario's own gateway table (tools/simulator/baseline.ts), with no precheck; arm B
// asks a real host bridge (POST /v1/verify) before every attempt, follows its answer (decline →
// the customer may switch card; review → the prompt: 3-D Secure, enable international payments,
// smaller amount, try later; approve → the recommended gateway, else the same default gateway)
// and reports every gateway outcome (POST /v1/outcomes). The bridge has one real verifier device
// (the firmware's DeviceCore over its SQLite store, behind the USB HID virtual cable, in this
// process) and the real network service; all three run on the simulated clock. The service's
// publisher and the bridge's sync follower run with their timers on the simulated clock, and the
// default sync schedule (`precheck up`'s) too (tools/simulator/sim-clock.ts), so the local stage
// answers from what the service learned, as soon as production would. Intervals: paired bootstrap over orders,
// 2000 resamples, percentile 95% (the success-rate difference is cross-checked with the paired
// normal interval). BENCH_SIM_STEADY_DAYS scales the steady scenario (default 4 days; see scaled()).
// BENCH_SIM_FOLLOW=0 plays the loop without the bridge's sync follower (schedule only; cheaper, and
// its outcome → device lag is not production's).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, SummaryRow } from './run.ts';
import { loadScenario } from '../tools/simulator/scenario.ts';
import { simulate, type SimulationReport } from '../tools/simulator/simulate.ts';
import { deviceLoopLine, gatewayLine, markdownReport, stageLine } from '../tools/simulator/report.ts';
import { startSimDevice } from '../tools/simulator/simulate-device.ts';
import type { Scenario } from '../tools/simulator/scenario.ts';
import { answerBreakdown, breakdownMarkdown, failedAttemptBreakdown, failedAttemptMarkdown } from '../tools/simulator/breakdown.ts';
import type { Interval } from '../tools/simulator/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIRST = ['calm.json', 'drift-outage.json', 'fraud-wave.json', 'steady.json'];

/**
 * The bench plays `steady` scaled to BENCH_SIM_STEADY_DAYS simulated days (default 4; 30 = the
 * whole scenario), same orders per day. Why: with the bridge's sync follower there is about one
 * publish and one device sync per order (publishes are incremental and a device applies a delta in
 * place, but each publish still encodes, signs and stores the whole snapshot, and each order costs a
 * verify and an outcome over the real stack), 90–130 s per simulated day here at low load, so the
 * month's 30 000 orders cost about an hour (bench/REPORT.md). The gateway events keep their length and their
 * relative place in the run (day 12 of 30 → day 1.6 of 4).
 */
const STEADY_DAYS_DEFAULT = 4;
export function scaled(s: Scenario): { scenario: Scenario; note: string } {
  const env = Number(process.env.BENCH_SIM_STEADY_DAYS);
  const days = Number.isFinite(env) && env > 0 ? env : STEADY_DAYS_DEFAULT;
  if (s.name !== 'steady' || days * 24 >= s.durationHours) return { scenario: s, note: '' };
  const f = (days * 24) / s.durationHours;
  const move = <T extends { fromHour: number; toHour: number }>(e: T): T => ({ ...e, fromHour: e.fromHour * f, toHour: e.fromHour * f + (e.toHour - e.fromHour) });
  const gateways = s.gateways.map((g) => ({ ...g, drift: g.drift.map(move), outages: g.outages.map(move) }));
  const orders = Math.round(s.orders * f);
  return {
    scenario: { ...s, durationHours: days * 24, orders, gateways },
    note: ` **Scaled** to ${days} of its ${s.durationHours / 24} simulated days (BENCH_SIM_STEADY_DAYS, default ${STEADY_DAYS_DEFAULT}): ${orders} orders, the same rate per day; the gateway's bad day keeps its 24 hours and its relative place in the run (starts at hour ${(s.gateways.flatMap((g) => g.outages)[0]?.fromHour ?? 0) * f}). There is a publish and a device sync per quiet gap in the outcomes (about one per order at this rate), so the full month costs over an hour here.`,
  };
}

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

const sumStages = (st: Record<string, number>) => Object.values(st).reduce((x, y) => x + y, 0);
const share = (st: Record<string, number>, k: string) => (sumStages(st) ? (st[k] ?? 0) / sumStages(st) : 0);

function summaryRows(r: SimulationReport): SummaryRow[] {
  const { A, B } = r.arms;
  const c = r.comparison;
  const feeSaving = A.feesPerPaid === 0 ? 0 : -c.feesPerPaid.estimate / A.feesPerPaid;
  const rows: SummaryRow[] = [
    { figure: `simulator ${r.scenario}: order conversion, B − A (95% CI)`, value: ci(c.successRate, pts), bound: `A (${r.baseline.gateway ?? 'random'}) ${pct(A.successRate)} → B ${pct(B.successRate)}` },
    { figure: `simulator ${r.scenario}: gateway attempt success rate, B − A (95% CI)`, value: ci(c.attemptSuccessRate, pts), bound: `A ${pct(A.attemptSuccessRate)} → B ${pct(B.attemptSuccessRate)}` },
    { figure: `simulator ${r.scenario}: fees per paid order, B − A (95% CI)`, value: ci(c.feesPerPaid, major), bound: `A ${major(A.feesPerPaid)} → B ${major(B.feesPerPaid)}`, ratio: `${feeSaving >= 0 ? '' : '+'}${(Math.abs(feeSaving) * 100).toFixed(1)}% ${feeSaving >= 0 ? 'saved' : 'more'}` },
    { figure: `simulator ${r.scenario}: false declines (% of payable cards)`, value: `${(B.falseDeclineRate * 100).toFixed(2)}% (${B.falseDeclines}/${B.payableVerifies})`, bound: Object.entries(B.falseDeclineReasons).map(([k, v]) => `${k} ${v}`).join(', ') },
    { figure: `simulator ${r.scenario}: stage mix after day 1 (local share)`, value: `${pct(share(B.stagesAfterDay1, 'local'))} local`, bound: stageLine(B.stagesAfterDay1) },
  ];
  if (r.deviceLoop) rows.push({ figure: `simulator ${r.scenario}: outcome → device lag (simulated)`, value: `p50 ${r.deviceLoop.lag.p50.toFixed(0)} s, p99 ${r.deviceLoop.lag.p99.toFixed(0)} s`, bound: `${r.deviceLoop.follow ? 'sync follower + ' : 'no follower, '}sync "${r.deviceLoop.schedule}"` });
  rows.push({ figure: `simulator ${r.scenario}: fraud orders paid`, value: `A ${A.fraudLetThrough}/${A.fraudOrders} → B ${B.fraudLetThrough}/${B.fraudOrders}`, bound: ci(c.fraudLetThroughRate, pts) });
  return rows;
}

const yes = (ok: boolean) => (ok ? 'met' : '**MISSED**');

/** The issue's "done when" figures for one scenario, measured. */
function doneWhenRows(r: SimulationReport): string[] {
  const { A, B } = r.arms;
  const c = r.comparison;
  const feeDrop = A.feesPerPaid === 0 ? 0 : (A.feesPerPaid - B.feesPerPaid) / A.feesPerPaid;
  const rows = [
    `| ${r.scenario} | conversion B − A ≥ 0, CI low ≥ −0.3 pt | ${ci(c.successRate, pts)} | ${yes(c.successRate.estimate >= 0 && c.successRate.low >= -0.003)} |`,
    `| ${r.scenario} | gateway attempt success ≥ +10 pt | ${ci(c.attemptSuccessRate, pts)} (A ${pct(A.attemptSuccessRate)} → B ${pct(B.attemptSuccessRate)}) | ${yes(c.attemptSuccessRate.estimate >= 0.1)} |`,
    `| ${r.scenario} | fees per paid order ≥ 20 % lower | ${(feeDrop * 100).toFixed(1)}% lower (A ${major(A.feesPerPaid)} → B ${major(B.feesPerPaid)}) | ${yes(feeDrop >= 0.2)} |`,
    `| ${r.scenario} | false declines ≤ 0.1 % of payable cards | ${(B.falseDeclineRate * 100).toFixed(2)}% (${B.falseDeclines}/${B.payableVerifies}) | ${yes(B.falseDeclineRate <= 0.001)} |`,
  ];
  if (r.scenario === 'drift-outage') rows.push(`| ${r.scenario} | conversion B − A ≥ +3 pt | ${ci(c.successRate, pts)} | ${yes(c.successRate.estimate >= 0.03)} |`);
  if (r.scenario === 'steady') {
    rows.push(`| ${r.scenario} | local stage ≥ 50 % of verifies after day 1 | ${pct(share(B.stagesAfterDay1, 'local'))} (${stageLine(B.stagesAfterDay1)}) | ${yes(share(B.stagesAfterDay1, 'local') >= 0.5)} |`);
    if (r.deviceLoop) rows.push(`| ${r.scenario} | outcome → device lag p99 ≤ 60 s (default schedule) | p99 ${r.deviceLoop.lag.p99.toFixed(0)} s, p50 ${r.deviceLoop.lag.p50.toFixed(0)} s (${r.deviceLoop.follow ? 'sync follower + ' : 'no follower (BENCH_SIM_FOLLOW=0), '}"${r.deviceLoop.schedule}") | ${yes(r.deviceLoop.lag.p99 <= 60)} |`);
  }
  return rows;
}

export async function run(files: string[] = []): Promise<BenchResult> {
  const reports: SimulationReport[] = [];
  const sections: string[] = [];
  for (const f of scenarioFiles(files)) {
    const { scenario, note } = scaled(loadScenario(f));
    process.stderr.write(`bench: simulator ${scenario.name} (${scenario.orders} orders) ...\n`);
    // BENCH_SIM_FOLLOW=0: the schedule-only loop (no sync follower), about 5× cheaper in wall time
    // (a publish and a sync per 15 minutes instead of per order); its lag is not production's.
    const syncFollow = process.env.BENCH_SIM_FOLLOW !== '0';
    // Progress on stderr (orders done, wall seconds): the per-day cost of a long run is visible while it runs.
    // Arm B's cost per simulated day, wall and CPU (this process holds the service, the bridge and
    // the device): whether a day costs more as the history grows shows here, and CPU seconds
    // depend less on the machine's load than wall time.
    const t0 = Date.now();
    const perDay = Math.max(1, Math.round(scenario.orders / (scenario.durationHours / 24)));
    const days: { wallS: number; cpuS: number }[] = [];
    let mark = { wall: Date.now(), cpu: process.cpuUsage() };
    const onProgress = (arm: 'A' | 'B', done: number, total: number) => {
      if (arm === 'A') return;
      process.stderr.write(`bench: simulator ${scenario.name} arm B ${done}/${total} orders, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
      if (done % perDay !== 0 && done !== total) return;
      const cpu = process.cpuUsage(mark.cpu);
      days.push({ wallS: (Date.now() - mark.wall) / 1000, cpuS: (cpu.user + cpu.system) / 1e6 });
      mark = { wall: Date.now(), cpu: process.cpuUsage() };
    };
    const { report, a, b } = await simulate({ scenario, target: { kind: 'self-contained', verifier: 'device', startDevice: startSimDevice, syncFollow }, onProgress, progressEvery: Math.max(1, Math.round(perDay / 4)) });
    // day 1 includes starting the service, bridge and device
    const dayCost = days.length ? ` Arm B cost per simulated day (${perDay} orders; wall s / CPU s): ${days.map((d, i) => `d${i + 1} ${d.wallS.toFixed(0)}/${d.cpuS.toFixed(0)}`).join(', ')}.` : '';
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
      `### ${report.scenario}: ${report.description}\n\nSeed ${report.seed}, ${report.orders} orders (${report.arms.A.legitOrders} legitimate, ${report.arms.A.fraudOrders} fraud) over ${scenario.durationHours} simulated hours.${note} Arm B ${(report.durationMs.B / 1000).toFixed(1)} s wall time${report.deviceLoop ? ` (of which publishing ${(report.deviceLoop.wallMs.publish / 1000).toFixed(1)} s and syncing ${(report.deviceLoop.wallMs.sync / 1000).toFixed(1)} s)` : ''}. Money in major units of the merchant currency.${dayCost}\n\nArm A: ${report.baseline.label}. Gateway table it was chosen from (expected approval of one attempt by a payable card, over this scenario's card mix and hours): ${report.baseline.table.map((g) => `${g.name} ${pct(g.acceptance)} (fee ${major(g.feeAtMedian)} at the median amount)`).join(', ')}.\n\n${markdownReport(report)}\n\n${report.deviceLoop ? `${deviceLoopLine(report)}.\n\n` : ''}Precheck answers by stage: ${stages}. Most frequent decision:reason: ${reasons}.\n\nGateways, A: ${gatewayLine(report.gateways.A)}. B: ${gatewayLine(report.gateways.B)}.\n\nLegitimate orders by the FIRST Precheck answer in B:\n\n${breakdownMarkdown(answerBreakdown(a, b, 'first'), 'first answer')}\n\n...and by the LAST answer (the one the order ended on):\n\n${breakdownMarkdown(answerBreakdown(a, b, 'last'), 'last answer')}\n\nFailed gateway attempts by response code (all orders; B split by what Precheck could know before the attempt, and by the answer it followed):\n\n${failedAttemptMarkdown(failedAttemptBreakdown(a, b))}${warn}`,
    );
  }
  const method = `Same orders played twice: **A** no precheck, every attempt to the shop's single best gateway (chosen from the scenario's own gateway table: highest expected approval of one attempt by a payable card over the scenario's card mix and hours, outages and drift included, i.e. the best single gateway in hindsight); **B** every attempt verified first through a real host bridge (\`POST /v1/verify\`) with one real verifier device (the firmware's DeviceCore and store behind the USB HID virtual cable, Noise session, in process) and the real network service, every gateway outcome reported (\`POST /v1/outcomes\`); all on loopback and on the simulated clock. Datasets reach the device as in production, on the simulated clock: the service's own publisher (2 s debounce, at most 10 s) builds them, the bridge's sync follower (the service's Precheck-Dataset-Version answer header, a poll every 20 s, 1 s debounce) has its own sync runner install them (delta or snapshot), and \`precheck up\`'s 15-minute schedule runs too. An answer without a gateway goes to the same default gateway as A. 95% intervals: paired bootstrap over orders (2000 resamples, percentile; for conversion cross-checked by the paired normal interval). Order conversion = paid legitimate orders ÷ legitimate orders; gateway attempt success rate = approved attempts ÷ attempts (all orders, as the gateway sees them); attempts and fees per paid order = all attempts/fees (fraud included) ÷ paid legitimate orders; false-decline rate = Precheck declines of a legitimate card that could have paid ÷ verifications of such cards; stage mix = the bridge's \`stage\` of each answer; outcome → device lag = simulated time from the service accepting an outcome to the device running a dataset built after it. Scenarios and the sources of their numbers: \`bench/scenarios/README.md\`.`;
  const targets = `### Against the issue's "done when" (issue 11)\n\n| scenario | target | measured | |\n|---|---|---|---|\n${reports.flatMap(doneWhenRows).join('\n')}`;
  return { title: "Market simulator: Precheck vs the shop's best gateway", markdown: `${method}\n\n${targets}\n\n${sections.join('\n\n')}`, summary: reports.flatMap(summaryRows) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await run(process.argv.slice(2));
  process.stdout.write(`${r.markdown}\n\n| figure | value | bound | ratio |\n|---|---|---|---|\n${(r.summary ?? []).map((s) => `| ${s.figure} | ${s.value} | ${s.bound ?? ''} | ${s.ratio ?? ''} |`).join('\n')}\n`);
}
