// What an operator's tools see: process_* and precheck_build_info on the bridge's and the
// service's /metrics, /metrics (and the status page) without the token from loopback only when
// configured, sync progress streamed as NDJSON, and an OpenAPI document that passes
// `@redocly/cli lint` (recommended rules) with operationIds, servers, per-operation security and
// the documented /v1/verify errors.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestBridge, type TestBridge } from './bridge-harness.ts';
import { makeTempDir } from './temp-dir.ts';
import { startHarness } from '../server/helpers.ts';
import type { SyncRunner } from '../../host-bridge/api/server.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TOKEN = 'observability-test-token-0123456789';
const dirs: Array<{ remove(): void }> = [];
const bridges: TestBridge[] = [];
afterAll(async () => {
  for (const b of bridges) await b.close();
  for (const d of dirs) d.remove();
});

async function bridge(raw: Record<string, unknown> = {}, syncRunner?: SyncRunner): Promise<TestBridge> {
  const d = makeTempDir();
  dirs.push(d);
  const b = await startTestBridge({ dataDir: d.path, raw, syncRunner });
  bridges.push(b);
  return b;
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('bridge and service observability', () => {
  it('bridge /metrics carries process_* and precheck_build_info', async () => {
    const b = await bridge();
    const text = await (await fetch(`${b.url}/metrics`)).text();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'process_open_fds']) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)\\n${name} [0-9.e+]+$`, 'm'));
    }
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    expect(text).toContain(`precheck_build_info{component="bridge",version="${version}",node="${process.version}"} 1`);
  });

  it('service /metrics carries them too', async () => {
    const h = await startHarness();
    try {
      const text = await (await fetch(`${h.s.url}/metrics`)).text();
      expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
      expect(text).toContain('precheck_build_info{component="service",');
    } finally {
      await h.close();
    }
  });

  it('with a token, /metrics and / need it unless loopbackWithoutToken lets loopback clients in', async () => {
    const strict = await bridge({ token: TOKEN });
    expect((await fetch(`${strict.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${strict.url}/`)).status).toBe(401);
    expect((await fetch(`${strict.url}/metrics`, { headers: auth })).status).toBe(200);
    const open = await bridge({ token: TOKEN, loopbackWithoutToken: true });
    expect((await fetch(`${open.url}/metrics`)).status).toBe(200);
    const page = await fetch(`${open.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    // everything else still needs the token
    expect((await fetch(`${open.url}/v1/health`)).status).toBe(401);
    expect((await fetch(`${open.url}/v1/devices`)).status).toBe(401);
  });

  it('POST /v1/sync with Accept: application/x-ndjson streams progress lines, then the report', async () => {
    const listeners = new Set<(p: unknown) => void>();
    const report = { results: [{ device: 'pc-1', kind: 'dataset', result: 'updated', from: 1, to: 2 }], exitCode: 0 };
    const runner = Object.assign(
      async () => {
        for (let chunk = 1; chunk <= 3; chunk++) for (const l of listeners) l({ device: 'pc-1', kind: 'dataset', phase: 'send', from: 1, to: 2, chunk, chunks: 3, bytesSent: chunk * 100, bytesTotal: 300 });
        return report;
      },
      { subscribe: (l: (p: unknown) => void) => (listeners.add(l), () => void listeners.delete(l)) },
    );
    const b = await bridge({}, runner as SyncRunner);
    const res = await fetch(`${b.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' }, body: '{}' });
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['progress', 'progress', 'progress', 'report']);
    expect(lines[2]).toMatchObject({ device: 'pc-1', chunk: 3, chunks: 3 });
    expect(lines[3].report).toEqual(report);
    expect(listeners.size).toBe(0); // unsubscribed after the run
    // without the Accept header: the plain JSON report, as before
    const plain = await fetch(`${b.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(await plain.json()).toEqual(report);
  });

  it('the OpenAPI document passes `redocly lint` and documents operations, servers, security and errors', async () => {
    const b = await bridge({ token: TOKEN });
    const doc = await (await fetch(`${b.url}/v1/openapi.json`, { headers: auth })).json();
    expect(doc.servers?.length).toBeGreaterThan(0);
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ key: `${m.toUpperCase()} ${p}`, op })));
    expect(ops.map((o) => o.op.operationId).sort()).toEqual(['getHealth', 'getMetrics', 'getOpenApi', 'listDevices', 'pairDevice', 'reportOutcome', 'syncDevices', 'verifyCard']);
    for (const { key, op } of ops) {
      expect(op.security, key).toEqual([{ bearer: [] }]);
      for (const [status, r] of Object.entries(op.responses as Record<string, { description: string }>)) expect(r.description, `${key} ${status}`).not.toBe('Default Response');
    }
    const verify = doc.paths['/v1/verify'].post.responses;
    for (const s of ['200', '400', '401', '413', '415', '422', '429', '503', '504']) expect(Object.keys(verify)).toContain(s);

    const d = makeTempDir();
    dirs.push(d);
    const file = path.join(d.path, 'openapi.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js'), 'lint', file, '--format=json'], {
      encoding: 'utf8',
      timeout: 120_000,
      // offline and quiet: no telemetry, no update check
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', CI: 'true' },
    });
    const result = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    const problems = (result.problems as Array<{ ruleId: string; severity: string; message: string }>).map((p) => `${p.severity} ${p.ruleId}: ${p.message}`);
    // the remarks left: a proprietary licence has no URL to give, and the 405 answer is a component
    // no operation references (it belongs to a path asked with a method it does not document)
    expect(problems).toEqual(['warn info-license-strict: License object should contain `url` field.', 'warn no-unused-components: Component: "MethodNotAllowed" is never used.']);
    expect(r.status).toBe(0);
  }, 180_000);
});
