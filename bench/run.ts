// `npm run bench`: runs every bench/*.bench.ts that exports `run()` and writes bench/REPORT.md.
// A benchmark's run() returns markdown, or { markdown, summary } where summary rows feed the
// report's summary table. Benchmarks are never part of `npm test`.
import { readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface SummaryRow {
  figure: string;
  value: string;
  bound?: string;
  ratio?: string;
}
export interface BenchResult {
  title?: string;
  markdown: string;
  summary?: SummaryRow[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const sections: string[] = [];
const summary: SummaryRow[] = [];
for (const f of files) {
  const started = Date.now();
  process.stderr.write(`bench: ${f} ...\n`);
  try {
    const mod = (await import(pathToFileURL(path.join(here, f)).href)) as { run?: () => Promise<unknown> };
    if (typeof mod.run !== 'function') {
      process.stderr.write(`bench: ${f} exports no run(), skipped\n`);
      continue;
    }
    const res = await mod.run();
    const r: BenchResult = typeof res === 'string' ? { markdown: res } : (res as BenchResult);
    sections.push(`## ${r.title ?? f}\n\n${r.markdown.trim()}\n\n_${f}, ${((Date.now() - started) / 1000).toFixed(1)} s_\n`);
    if (Array.isArray(r.summary)) summary.push(...r.summary);
  } catch (e) {
    sections.push(`## ${f}\n\nFAILED: ${(e as Error).message}\n`);
    process.stderr.write(`bench: ${f} failed: ${(e as Error).stack}\n`);
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const header = `# Precheck benchmark report

Generated ${new Date().toISOString()} by \`npm run bench\` on ${os.cpus().length} × ${cpu},
${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node.js ${process.version}.
Medians and p99 over repeated runs; links compared with the bytes their wire can carry per second
(RS485: baud/10 bytes/s, 8N1; USB full-speed HID interrupt: 64 bytes per 1 ms frame; BLE: see
its section). Emulated RS485 buses are paced at their baud rate by the project's own pacing,
because a pseudo-terminal moves bytes instantly.
`;
const table = summary.length
  ? `\n## Summary\n\n| figure | value | bound / alternative | ratio |\n|---|---|---|---|\n${summary
      .map((s) => `| ${s.figure} | ${s.value} | ${s.bound ?? ''} | ${s.ratio ?? ''} |`)
      .join('\n')}\n`
  : '';
writeFileSync(path.join(here, 'REPORT.md'), `${header}${table}\n${sections.join('\n')}`);
process.stderr.write(`bench: wrote bench/REPORT.md (${files.length} benchmarks)\n`);
