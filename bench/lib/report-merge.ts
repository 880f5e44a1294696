// `npm run bench -- NAME` runs some benchmarks, but REPORT.md holds all of them: what this run did
// not cover is carried over from the existing report (its summary rows, status row and section),
// so running one benchmark never erases another's figures. Each section's closing line says which
// run measured it.

export interface KeptReport {
  summaryRows: string[];
  statusRows: string[];
  /** Whole sections ("## title" … "_file, …_"), in their old order. */
  sections: string[];
}

const OWN_SECTIONS = new Set(['Summary', 'Benchmarks run', 'Failures']);

/** Everything in `existing` (a REPORT.md) that belongs to a bench file in `keep` (file names). */
export function keptFromReport(existing: string, keep: ReadonlySet<string>): KeptReport {
  const out: KeptReport = { summaryRows: [], statusRows: [], sections: [] };
  const blocks = existing.split(/^(?=## )/m);
  for (const block of blocks) {
    const title = /^## (.*)$/m.exec(block)?.[1]?.trim();
    if (title === undefined || !block.startsWith('## ')) continue;
    const rows = block.split('\n').filter((l) => /^\| [^-]/.test(l));
    if (title === 'Summary') {
      // First cell: the file name without .bench.ts.
      for (const r of rows.slice(1)) if (keep.has(`${firstCell(r)}.bench.ts`)) out.summaryRows.push(r);
    } else if (title === 'Benchmarks run') {
      for (const r of rows.slice(1)) if (keep.has(firstCell(r))) out.statusRows.push(r);
    } else if (!OWN_SECTIONS.has(title)) {
      // A benchmark's section ends with "_<file>, …_".
      const file = /^_([\w.-]+\.bench\.ts),[^\n]*_\s*$/m.exec(block)?.[1];
      if (file && keep.has(file)) out.sections.push(block.trimEnd());
    }
  }
  return out;
}

function firstCell(row: string): string {
  return row.split('|')[1]?.trim() ?? '';
}
