// What the service logs about requests (server/http/request-log.ts): at info no line per answered
// request — one summary per interval with the counts by status — while refused requests are still
// logged one by one with their (scrubbed) request line; at debug a line per request as before.
import { afterEach, describe, expect, it } from 'vitest';
import { authBody, startHarness, type Harness } from './helpers.ts';

const TOKENS = ['0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5'];
const lines = (h: Harness) => h.logs.map((l) => JSON.parse(l) as Record<string, any>);

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('request logging', () => {
  it('at info: no line per answered request, a summary by status, refused requests one by one', async () => {
    h = await startHarness({ logLevel: 'info' });
    for (const t of TOKENS) expect((await h.call('POST', '/v1/auth', authBody(t))).status).toBe(200);
    expect((await h.call('GET', '/v1/health')).status).toBe(200);
    expect((await h.call('GET', '/v1/datasets/latest?card=4111111111111111', undefined, null)).status).toBe(401);
    await h.s.close(); // the last summary is written as the server closes
    const log = lines(h);
    expect(log.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toEqual([]);
    const summaries = log.filter((l) => l.msg === 'requests answered');
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    const byStatus: Record<string, number> = {};
    for (const s of summaries) for (const [k, n] of Object.entries(s.byStatus as Record<string, number>)) byStatus[k] = (byStatus[k] ?? 0) + n;
    expect(byStatus).toEqual({ 200: 3, 401: 1 });
    expect(summaries.reduce((a, s) => a + s.requests, 0)).toBe(4);
    const refused = log.filter((l) => l.msg === 'request refused');
    expect(refused.map((l) => [l.code, l.req?.method, l.req?.url])).toEqual([['UNAUTHORIZED', 'GET', '/v1/datasets/latest?card=411111…1111']]);
  });

  it('logs the summary every interval while requests come in', async () => {
    let summary: (line: Record<string, any>) => void = () => undefined;
    const first = new Promise<Record<string, any>>((resolve) => (summary = resolve));
    const write = (line: string) => {
      const l = JSON.parse(line) as Record<string, any>;
      if (l.msg === 'requests answered') summary(l);
    };
    h = await startHarness({ logLevel: 'info', requestSummaryMs: 50, logDestination: { write } });
    expect((await h.call('GET', '/v1/health')).status).toBe(200);
    // the interval's timer writes it while the server runs (no close in between)
    const s = await first;
    expect([s.requests, s.byStatus]).toEqual([1, { 200: 1 }]);
  });

  it('at debug: a line per request with its scrubbed request line, status and time', async () => {
    h = await startHarness({ logLevel: 'debug' });
    expect((await h.call('POST', '/v1/auth', authBody(TOKENS[0]))).status).toBe(200);
    expect((await h.call('GET', '/v1/health?card=4111111111111111')).status).toBe(400);
    const log = lines(h);
    expect(log.filter((l) => l.msg === 'incoming request').map((l) => [l.req.method, l.req.url])).toEqual([
      ['POST', '/v1/auth'],
      ['GET', '/v1/health?card=411111…1111'],
    ]);
    const done = log.filter((l) => l.msg === 'request completed');
    expect(done.map((l) => l.res.statusCode)).toEqual([200, 400]);
    expect(done.every((l) => typeof l.responseTime === 'number')).toBe(true);
  });
});
