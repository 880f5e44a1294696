// The real service under a steady outcome stream (one POST every 20 ms for 30 s, default publish
// schedule: 2 s debounce, 10 s maximum delay): datasets keep being published during the stream, and
// /v1/health, /metrics and /v1/datasets/latest say how old the unpublished and the newest data are.
import { setTimeout as pause } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { outcomeBody, randomToken, startHarness, type Harness } from './helpers.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

function metric(text: string, name: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : null;
}

describe('publishing under steady traffic', () => {
  it('publishes at least two datasets while outcomes arrive every 20 ms for 30 s', async () => {
    h = await startHarness({ publishDebounceMs: 2000, publishMaxDelayMs: 10_000, train: { schedule: null } });
    const first = (await h.call('GET', '/v1/datasets/latest')).json.version as number;
    const versions: number[] = [];
    h.s.service.publisher.onPublished((r) => versions.push(r.info.version));

    // One outcome every 20 ms on a fixed tick (requests overlap when the service is slower).
    const streamMs = 30_000;
    const t0 = Date.now();
    let sent = 0;
    let sawPending = false;
    const refused: string[] = [];
    const inFlight = new Set<Promise<void>>();
    const send = async (n: number) => {
      const fail = n % 3 === 0;
      const r = await h!.call('POST', '/v1/outcomes', outcomeBody(randomToken(), fail ? { status: 'failure', code: '51' } : { status: 'success' }));
      if (r.status !== 200) refused.push(`${r.status} ${JSON.stringify(r.json)}`);
      if (n % 100 === 0) {
        const health = (await h!.call('GET', '/v1/health', undefined, null)).json;
        if (typeof health.oldestUnpublishedChangeAgeSeconds === 'number') sawPending = true;
      }
    };
    for (let n = 0; n * 20 < streamMs; n++) {
      const wait = t0 + n * 20 - Date.now();
      if (wait > 0) await pause(wait); // pacing the stream, not waiting for the service
      const p: Promise<void> = send(n).finally(() => inFlight.delete(p));
      inFlight.add(p);
      sent++;
      if (inFlight.size >= 256) await Promise.race(inFlight);
    }
    // Versions published while the stream was still running.
    const during = versions.filter((v) => v > first);
    const streamTookMs = Date.now() - t0;
    await Promise.all(inFlight);
    expect(refused, h.logs.filter((l) => l.includes('"level":50')).slice(-3).join('\n')).toEqual([]);
    expect(sent).toBe(1500);
    expect(during.length, `versions published during the ${streamTookMs} ms stream: ${during.join(',')}`).toBeGreaterThanOrEqual(2);
    expect(sawPending).toBe(true);

    // The newest version is what /v1/datasets/latest answers, with the age of its data.
    const latest = (await h.call('GET', '/v1/datasets/latest')).json;
    expect(latest.version).toBeGreaterThanOrEqual(during[during.length - 1]);
    expect(Number.isInteger(latest.ageSeconds)).toBe(true);
    expect(latest).toHaveProperty('oldestUnpublishedChangeAgeSeconds');

    const m = await fetch(`${h.s.url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toContain('text/plain');
    const text = await m.text();
    expect(text).toContain('# TYPE precheck_dataset_unpublished_change_age_seconds gauge');
    expect(metric(text, 'precheck_dataset_publishes_total')).toBeGreaterThanOrEqual(during.length);
    expect(metric(text, 'precheck_dataset_version')).toBe(latest.version);
  }, 180_000);
});
