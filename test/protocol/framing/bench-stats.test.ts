// bench/lib/stats.ts: the percentile helpers every benchmark reports with.
import { describe, expect, it } from 'vitest';
import { markdownTable, median, p99, percentile, summarize, timeBatches, formatSi } from '../../../bench/lib/stats.ts';

describe('bench stats', () => {
  it('median of odd and even samples', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
  it('nearest-rank percentiles return measured values', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(p99(xs)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([5, 1, 9], 50)).toBe(5);
    expect(p99([7])).toBe(7);
  });
  it('summarize and formatting', () => {
    expect(summarize([1, 2, 3, 10])).toMatchObject({ n: 4, min: 1, max: 10, median: 2.5, p99: 10, mean: 4 });
    expect(formatSi(1_234_567)).toBe('1.23 M');
    expect(formatSi(999)).toBe('999');
    expect(markdownTable(['a', 'b'], [[1, 'x']])).toBe('| a | b |\n| --- | --- |\n| 1 | x |');
  });
  it('timeBatches runs the requested batches and reports rates consistent with durations', () => {
    let calls = 0;
    const t = timeBatches(() => void calls++, { batches: 10, warmup: 2, opsPerBatch: 100 });
    expect(calls).toBe(1200);
    expect(t.batchNs).toHaveLength(10);
    expect(t.p99NsPerOp).toBeGreaterThanOrEqual(t.medianNsPerOp);
    expect(t.medianOpsPerSec).toBeCloseTo(1e9 / t.medianNsPerOp, 0);
  });
});
