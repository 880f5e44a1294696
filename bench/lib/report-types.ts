// Shapes a benchmark's run() returns (re-exported by bench/run.ts, where benchmarks import them).

export interface SummaryRow {
  figure: string;
  value: string;
  bound?: string;
  ratio?: string;
}

export interface BenchResult {
  title?: string;
  markdown: string;
  /** Rows for the report's summary table: headline figure, its bound/alternative and the ratio. */
  summary?: SummaryRow[];
}
