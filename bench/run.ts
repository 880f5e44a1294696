// `npm run bench [NAME...]`: runs every bench/*.bench.ts that exports `run()` (or those whose
// file name contains one of NAME) and writes bench/REPORT.md. A benchmark's run() returns
// markdown, or { title, markdown, summary } where summary rows feed the report's summary table.
// Benchmarks are never part of `npm test`.
//
// Each benchmark runs in its own child process (bench/lib/bench-child.ts, its own process
// group), one after another, so a crash, a leaked handle or a stray child process in one cannot
// affect the others or the timings of the next. Per-benchmark timeout: BENCH_TIMEOUT_S (default
// 900 s); then the whole process group is killed and the report says so. A benchmark that
// returns but does not exit within BENCH_EXIT_GRACE_S (default 10 s) keeps its figures and is
// flagged (something it started is still open).
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ChildMessage } from './lib/bench-child.ts';
import type { BenchResult, SummaryRow } from './lib/report-types.ts';
import { keptFromReport } from './lib/report-merge.ts';

export type { BenchResult, SummaryRow } from './lib/report-types.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..');
/** Where the *.bench.ts files are and REPORT.md goes (BENCH_DIR: for testing the runner itself). */
const benchDir = process.env.BENCH_DIR ? path.resolve(process.env.BENCH_DIR) : here;

interface Outcome {
  file: string;
  status: 'ok' | 'failed' | 'timeout' | 'skipped';
  seconds: number;
  result?: BenchResult;
  /** What went wrong (first lines of the error, stderr tail), or a note. */
  error?: string;
  notes: string[];
}

function envSeconds(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

/** Kill a child's whole process group (it was started detached, as the group leader). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false; // no such group: nothing left
  }
}

function groupAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function errorLines(text: string, max = 12): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-max).join('\n');
}

async function runOne(file: string, timeoutS: number, graceS: number): Promise<Outcome> {
  const started = Date.now();
  const child = fork(path.join(here, 'lib/bench-child.ts'), [path.join(benchDir, file)], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    detached: true, // own process group: a timeout kills everything the benchmark started
  });
  let stderrTail = '';
  child.stderr!.on('data', (d: Buffer) => {
    process.stderr.write(d);
    stderrTail = (stderrTail + d.toString()).slice(-16_000);
  });
  let message: ChildMessage | null = null;
  const notes: string[] = [];
  const exitedP = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
  const gotMessage = new Promise<void>((resolve) => {
    child.on('message', (m) => {
      message = m as ChildMessage;
      resolve();
    });
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutS * 1000);
  await Promise.race([gotMessage, exitedP]);
  clearTimeout(timer);
  if (!timedOut) {
    // The result is in; the process should now end by itself.
    const grace = new Promise<'late'>((r) => setTimeout(() => r('late'), graceS * 1000).unref());
    if ((await Promise.race([exitedP.then(() => 'exited' as const), grace])) === 'late') {
      notes.push(`did not exit within ${graceS} s after returning (an open handle or child process); killed`);
      killGroup(child);
    }
  }
  const exit = await exitedP;
  // Helpers die with their parent on their own (tsx's esbuild service watches its stdin), but
  // not always before we look: give the group a moment, then anything left is the benchmark's.
  for (let i = 0; i < 30 && groupAlive(child.pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(child.pid)) {
    notes.push('left processes running in its process group; killed');
    killGroup(child);
  }
  const seconds = (Date.now() - started) / 1000;
  const m = message as ChildMessage | null;
  if (timedOut && !m) {
    return { file, status: 'timeout', seconds, error: `TIMEOUT after ${timeoutS} s (BENCH_TIMEOUT_S)\n${errorLines(stderrTail)}`, notes };
  }
  if (!m) {
    return { file, status: 'failed', seconds, error: `exited (code ${exit.code}, signal ${exit.signal}) without a result\n${errorLines(stderrTail)}`, notes };
  }
  if (m.kind === 'skip') return { file, status: 'skipped', seconds, error: m.reason, notes };
  if (m.kind === 'error') {
    const stack = (m.stack ?? m.message).split('\n').slice(0, 6).join('\n');
    return { file, status: 'failed', seconds, error: stack, notes };
  }
  return { file, status: 'ok', seconds, result: m.result, notes };
}

function gitDescribe(): string {
  // A copy outside git (a snapshot taken so that edits meanwhile cannot leak into a long run) names its commit.
  if (process.env.BENCH_COMMIT) return `commit ${process.env.BENCH_COMMIT}`;
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return `commit ${sha}${dirty ? ' with uncommitted changes' : ''}`;
  } catch {
    return 'commit unknown';
  }
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' / ');

export async function main(argv: string[]): Promise<void> {
  const only = argv;
  const all = readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort();
  const files = all.filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
  const reportPath = path.join(benchDir, 'REPORT.md');
  const described = gitDescribe();
  const timeoutS = envSeconds('BENCH_TIMEOUT_S', 900);
  const graceS = envSeconds('BENCH_EXIT_GRACE_S', 10);
  const startedAt = new Date();
  const loadBefore = load();

  const outcomes: Outcome[] = [];
  for (const f of files) {
    process.stderr.write(`bench: ${f} ...\n`);
    const o = await runOne(f, timeoutS, graceS);
    outcomes.push(o);
    process.stderr.write(`bench: ${f} ${o.status} in ${o.seconds.toFixed(1)} s${o.notes.length ? ` (${o.notes.join('; ')})` : ''}\n`);
  }
  const loadAfter = load();
  // Benchmarks not run now keep their figures from the report as it is now (read at the end, so
  // a run that finished meanwhile is kept too), with the run that made them.
  const kept = keptFromReport(existsSync(reportPath) ? readFileSync(reportPath, 'utf8') : '', new Set(all.filter((f) => !files.includes(f))));
  const totalS = (Date.now() - startedAt.getTime()) / 1000;

  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const header = `# Precheck benchmark report

Generated ${startedAt.toISOString()} by \`npm run bench${only.length ? ` -- ${only.join(' ')}` : ''}\` (${described}) in ${totalS.toFixed(0)} s.${kept.sections.length ? ` This run covered ${files.map((f) => f.replace(/\.bench\.ts$/, '')).join(', ')}; the other sections are kept from earlier runs (the line under each section says which).` : ''}

**Machine.** ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()},
Node.js ${process.version}. Load average (1/5/15 min) ${loadBefore} at the start and ${loadAfter} at the end: the machine
is shared, so tails (p99) carry other jobs' noise; medians are the figures to compare.

**Method.** Each benchmark runs alone in its own process, one after another. Latencies are medians (p50)
and nearest-rank p99 over repeated runs after a warm-up. Links are compared with what their wire can
carry: RS485 = bytes ÷ (baud/10) bytes/s (8N1) plus the t3.5 silence per frame; USB full-speed HID
interrupt = one 64-byte report per 1 ms frame per direction; BLE = one fragment per 7.5 ms connection
event per direction (assumption stated in each section). Emulated RS485 buses run on pseudo-terminals
paced at the baud rate by the project's PacedSerialWriter (a pty alone moves bytes instantly); the USB
HID and BLE "virtual cables" are unix sockets carrying the exact reports/fragments, not paced, so a
ratio below 1 there means the emulation outruns the real bus. **Ratio direction:** for a time,
ratio = measured ÷ bound (above 1 = slower than the wire allows); for a throughput (B/s, req/s),
ratio = measured ÷ bound rate (below 1 = slower); "headroom" = how many times the bound the code
could sustain; "×" against an alternative = this ÷ that. The bound column names what is compared.

Reproduce: \`npm run bench\` (all), \`npm run bench -- verify-links\` (by file name), or one file alone:
\`node --import tsx bench/NAME.bench.ts\`.
`;

  const summaryRows: string[] = [...kept.summaryRows];
  for (const o of outcomes) {
    const short = o.file.replace(/\.bench\.ts$/, '');
    for (const s of o.result?.summary ?? []) {
      summaryRows.push(`| ${short} | ${cell(s.figure)} | ${cell(s.value)} | ${cell(s.bound ?? '')} | ${cell(s.ratio ?? '')} |`);
    }
  }
  const summary = summaryRows.length
    ? `\n## Summary\n\n| bench | figure | value | bound / alternative | ratio (measured ÷ bound) |\n|---|---|---|---|---|\n${summaryRows.join('\n')}\n`
    : '\n## Summary\n\nNo benchmark produced summary figures.\n';

  const statusTable = `\n## Benchmarks run\n\n| bench | section | status | time | notes |\n|---|---|---|---|---|\n${[...kept.statusRows, ...outcomes
    .map(
      (o) =>
        `| ${o.file} | ${cell(o.result?.title ?? '')} | ${o.status === 'ok' ? 'ok' : `**${o.status.toUpperCase()}**`} | ${o.seconds.toFixed(1)} s | ${cell([o.status === 'skipped' ? o.error ?? '' : '', ...o.notes].filter(Boolean).join('; '))} |`,
    )]
    .join('\n')}\n`;

  const failed = outcomes.filter((o) => o.status === 'failed' || o.status === 'timeout');
  const failures = failed.length
    ? `\n## Failures\n\n${failed.map((o) => `### ${o.file}: ${o.status}\n\n\`\`\`\n${(o.error ?? '').trim()}\n\`\`\`\n`).join('\n')}`
    : '';

  const sections = [
    ...kept.sections.map((s) => `${s}\n`),
    ...outcomes
      .filter((o) => o.status === 'ok' && o.result)
      .map((o) => `## ${o.result!.title ?? o.file}\n\n${o.result!.markdown.trim()}\n\n_${o.file}, ${o.seconds.toFixed(1)} s, run of ${startedAt.toISOString()} (${described}), load average ${loadBefore} → ${loadAfter}_\n`),
  ];

  writeFileSync(reportPath, `${header}${summary}${statusTable}${failures}\n${sections.join('\n')}`);
  process.stderr.write(
    `bench: wrote ${path.relative(process.cwd(), reportPath)} (${outcomes.filter((o) => o.status === 'ok').length}/${outcomes.length} ok${failed.length ? `; failed: ${failed.map((o) => o.file).join(', ')}` : ''})\n`,
  );
  if (failed.length) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
