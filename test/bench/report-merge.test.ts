// `npm run bench -- NAME` keeps the other benchmarks' figures in bench/REPORT.md.
import { describe, expect, it } from 'vitest';
import { keptFromReport } from '../../bench/lib/report-merge.ts';

const REPORT = `# Precheck benchmark report

Generated somewhen.

## Summary

| bench | figure | value | bound / alternative | ratio (measured ÷ bound) |
|---|---|---|---|---|
| simulator | conversion | +0.5 pt |  |  |
| auth-ratio | ratio | 0.09 | bare | 0.09 |

## Benchmarks run

| bench | section | status | time | notes |
|---|---|---|---|---|
| simulator.bench.ts | Market simulator | ok | 1607.2 s |  |
| auth-ratio.bench.ts | Auth | ok | 300.0 s |  |

## Market simulator

### calm: a scenario

| metric | A | B |
|---|---|---|
| conversion | 1 | 2 |

_simulator.bench.ts, 1607.2 s_

## Auth

old auth figures

_auth-ratio.bench.ts, 300.0 s, run of 2026-12-06T00:00:00.000Z (commit abc)_
`;

describe('keptFromReport', () => {
  it('keeps the summary rows, status row and whole section of the benchmarks not run now', () => {
    const k = keptFromReport(REPORT, new Set(['simulator.bench.ts']));
    expect(k.summaryRows).toEqual(['| simulator | conversion | +0.5 pt |  |  |']);
    expect(k.statusRows).toEqual(['| simulator.bench.ts | Market simulator | ok | 1607.2 s |  |']);
    expect(k.sections).toHaveLength(1);
    expect(k.sections[0]).toMatch(/^## Market simulator\n/);
    expect(k.sections[0]).toContain('### calm: a scenario');
    expect(k.sections[0]).toContain('| conversion | 1 | 2 |');
    expect(k.sections[0]).not.toContain('old auth figures');
  });

  it('keeps nothing of a benchmark that is being run again, and reads an empty report', () => {
    expect(keptFromReport(REPORT, new Set())).toEqual({ summaryRows: [], statusRows: [], sections: [] });
    expect(keptFromReport('', new Set(['simulator.bench.ts']))).toEqual({ summaryRows: [], statusRows: [], sections: [] });
  });
});
