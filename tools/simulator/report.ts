// Human-readable tables of a simulation report (terminal and markdown share one layout).
import type { SimulationReport } from './simulate.ts';
import type { Interval } from './stats.ts';

const pct = (x: number, d = 1) => `${(x * 100).toFixed(d)}%`;
const pts = (x: number, d = 1) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(d)} pt`;
const money = (minor: number) => (minor / 100).toFixed(3);
const num = (x: number, d = 3) => x.toFixed(d);
const ci = (i: Interval, f: (x: number) => string) => `${f(i.estimate)} [${f(i.low)}, ${f(i.high)}]`;
const signed = (f: (x: number) => string) => (x: number) => `${x >= 0 ? '+' : ''}${f(x)}`;

/** "local 52.1% (1234), network 47.9% (1133)". */
export function stageLine(stages: Record<string, number>): string {
  const total = Object.values(stages).reduce((x, y) => x + y, 0);
  if (total === 0) return 'none';
  return Object.entries(stages)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k} ${pct(v / total)} (${v})`)
    .join(', ');
}

export function reasonsLine(reasons: Record<string, number>): string {
  const e = Object.entries(reasons).sort((x, y) => y[1] - x[1]);
  return e.length ? `by reason: ${e.map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
}

export function reportRows(r: SimulationReport): string[][] {
  const { A, B } = r.arms;
  const c = r.comparison;
  return [
    ['metric', `A: no precheck${r.baseline.gateway ? `, all to ${r.baseline.gateway}` : ', random gateway'}`, 'B: precheck', 'B − A [95% CI]'],
    ['order conversion (paid legitimate orders / legitimate orders)', pct(A.successRate), pct(B.successRate), ci(c.successRate, (x) => pts(x, 2))],
    ['gateway attempt success rate (approved attempts / attempts)', pct(A.attemptSuccessRate), pct(B.attemptSuccessRate), ci(c.attemptSuccessRate, (x) => pts(x, 2))],
    ['gateway attempts per paid order', num(A.attemptsPerPaid), num(B.attemptsPerPaid), ci(c.attemptsPerPaid, signed((x) => num(x)))],
    ['fees per paid order (major units)', money(A.feesPerPaid), money(B.feesPerPaid), ci(c.feesPerPaid, signed((x) => money(x)))],
    ['total fees (major units)', money(A.fees), money(B.fees), signed(money)(B.fees - A.fees)],
    ['paid legitimate orders', `${A.paidLegit}/${A.legitOrders}`, `${B.paidLegit}/${B.legitOrders}`, String(B.paidLegit - A.paidLegit)],
    ['fraud orders paid (let through)', `${A.fraudLetThrough}/${A.fraudOrders}`, `${B.fraudLetThrough}/${B.fraudOrders}`, ci(c.fraudLetThroughRate, (x) => pts(x, 1))],
    ['false declines (payable cards declined)', '—', `${B.falseDeclines}/${B.payableVerifies} = ${pct(B.falseDeclineRate, 2)}`, reasonsLine(B.falseDeclineReasons)],
    ['precheck stage mix (all verifications)', '—', stageLine(B.stages), ''],
    ['precheck stage mix (after the first simulated day)', '—', stageLine(B.stagesAfterDay1), ''],
    ['precheck answers (decline / review / all)', '—', `${B.declines} / ${B.reviews} / ${B.verifies}`, ''],
  ];
}

/** "alpha 35% (78% ok), beta ..." per arm. */
export function gatewayLine(use: SimulationReport['gateways']['A']): string {
  const total = Object.values(use).reduce((s, g) => s + g.attempts, 0);
  return Object.entries(use)
    .sort((x, y) => x[0].localeCompare(y[0]))
    .map(([name, g]) => `${name} ${pct(total ? g.attempts / total : 0, 0)} of attempts (${pct(g.attempts ? g.successes / g.attempts : 0, 0)} succeed)`)
    .join(', ');
}

export function markdownReport(r: SimulationReport): string {
  const rows = reportRows(r);
  const head = `| ${rows[0].join(' | ')} |\n|${rows[0].map(() => '---').join('|')}|\n`;
  return head + rows.slice(1).map((row) => `| ${row.join(' | ')} |`).join('\n');
}

export function textReport(r: SimulationReport): string {
  const rows = reportRows(r);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [
    `scenario ${r.scenario} (seed ${r.seed}, ${r.orders} orders): ${r.description}`,
    `arm B through ${r.target}`,
    '',
    line(rows[0]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
  ];
  if (r.precheck) {
    const st = Object.entries(r.precheck.stages).map(([k, v]) => `${k} ${v}`).join(', ');
    out.push('', `precheck stages: ${st || 'none'}; outcomes reported ${r.precheck.reports}, refused by the network service ${r.precheck.outcomesRejected}`);
  }
  out.push(`arm A: ${r.baseline.label}; gateway table (expected approval of one attempt by a payable card): ${r.baseline.table.map((g) => `${g.name} ${pct(g.acceptance)}`).join(', ')}`);
  if (r.deviceLoop) out.push(deviceLoopLine(r));
  out.push(`gateways A: ${gatewayLine(r.gateways.A)}`, `gateways B: ${gatewayLine(r.gateways.B)}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  out.push(`CI: paired bootstrap over orders, ${r.comparison.resamples} resamples (percentile); success-rate normal approximation ${pts(r.comparison.successRateNormal.estimate, 2)} [${pts(r.comparison.successRateNormal.low, 2)}, ${pts(r.comparison.successRateNormal.high, 2)}]`);
  return out.join('\n');
}

/** One line on the device's dataset loop: schedule, syncs, outcome → device lag (simulated time). */
export function deviceLoopLine(r: SimulationReport): string {
  const d = r.deviceLoop;
  if (!d) return '';
  const l = d.lag;
  const follow = d.follow ? `${d.follow.runs} follow runs of the bridge (${d.follow.updated} installed a new dataset, ${d.follow.failed} failed) and ` : 'no sync follower, ';
  return `device ${d.deviceId}: ${follow}${d.ticks} scheduled syncs on "${d.schedule}" (simulated clock), ${d.syncsUpdated} installed a new dataset, ${d.syncFailures} failed; outcome → device lag p50 ${l.p50.toFixed(0)} s, p99 ${l.p99.toFixed(0)} s, max ${l.max.toFixed(0)} s (${l.delivered}/${l.outcomes} outcomes on the device by the end)${d.bridgeLag ? `; the bridge's own metric (precheck_bridge_outcome_lag_seconds, its last outcomes): p50 ${d.bridgeLag.p50.toFixed(0)} s, p99 ${d.bridgeLag.p99.toFixed(0)} s` : ''}`;
}
