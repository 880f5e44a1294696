// The routing objective per merchant over the real admin API and the real CLI: success first by
// default, value with a margin only when chosen, persisted in the service's database.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { MerchantObjectives } from '../../../server/routing/objectives.ts';
import { authBody, randomToken, startHarness, type Harness } from '../helpers.ts';

const CLI = path.resolve(import.meta.dirname, '../../../bin/precheck.js');
const run = promisify(execFile);

let h: Harness | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await h?.close();
  h = null;
  while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('routing objective per merchant', () => {
  it('success by default; a merchant that chooses value with its margin lets the fee decide', async () => {
    let now = 1_800_000_000;
    h = await startHarness({ now: () => now * 1000, routing: { explorationShare: 0 }, train: { schedule: null } });
    await h.admin('POST', '/v1/admin/gateways', { name: 'good', feePerAttempt: 60, feeBps: 0 });
    await h.admin('POST', '/v1/admin/gateways', { name: 'cheap', feePerAttempt: 10, feeBps: 0 });
    // 93 % vs 90 % over 1000 outcomes each (fed to the service's router directly: the setting is
    // what this test is about; outcome ingestion has its own tests).
    const router = h.s.service.router.router;
    for (let i = 0; i < 1000; i++) {
      for (const [g, rate] of [['good', 930], ['cheap', 900]] as const) {
        const ok = i < rate;
        router.record({ gateway: g, brand: 'visa', currency: 'USD', amount: 2500, status: ok ? 'success' : 'failure', type: ok ? null : 'soft', at: now });
      }
    }
    const pick = async () => (await h!.call('POST', '/v1/auth', authBody(randomToken()))).json;

    expect((await h.admin('GET', '/v1/admin/merchants/merchant-a/routing')).json).toEqual({ merchant: 'merchant-a', objective: 'success', marginBps: null, source: 'built-in' });
    const first = await pick();
    expect(first.gateway, JSON.stringify(first)).toBe('good');

    const set = await h.admin('PUT', '/v1/admin/merchants/merchant-a/routing', { objective: 'value', marginBps: 1500 });
    expect(set.status).toBe(200);
    expect(set.json).toEqual({ merchant: 'merchant-a', objective: 'value', marginBps: 1500, source: 'merchant' });
    expect((await pick()).gateway).toBe('cheap');

    // Bad settings are refused with a clear error and change nothing.
    for (const bad of [{ objective: 'value' }, { objective: 'success', marginBps: 100 }, { objective: 'cheapest' }, { objective: 'value', marginBps: 0 }]) {
      const r = await h.admin('PUT', '/v1/admin/merchants/merchant-a/routing', bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.json.error.code).toBe('INVALID_FIELD');
    }
    expect((await pick()).gateway).toBe('cheap');

    // A default for every merchant without its own; the merchant's own setting wins.
    expect((await h.admin('PUT', '/v1/admin/routing', { objective: 'value', marginBps: 10_000 })).json).toMatchObject({ objective: 'value', marginBps: 10_000, source: 'default' });
    expect((await h.admin('GET', '/v1/admin/merchants/other/routing')).json).toEqual({ merchant: 'other', objective: 'value', marginBps: 10_000, source: 'default' });
    expect((await h.admin('PUT', '/v1/admin/merchants/merchant-a/routing', { objective: 'success' })).json.source).toBe('merchant');
    expect((await pick()).gateway).toBe('good');

    // Persisted: a fresh reader of the database sees the same.
    const fresh = new MerchantObjectives(h.s.service.storage);
    expect(await fresh.effective('merchant-a')).toEqual({ objective: 'success', marginBps: null, source: 'merchant' });
    expect(await fresh.effective('other')).toMatchObject({ objective: 'value', marginBps: 10_000 });
    // Only the admin key may change it.
    expect((await h.call('PUT', '/v1/admin/routing', { objective: 'success' })).status).toBe(403);
    now += 1;
  });

  it('precheck server routing --objective success|value --margin-bps N [--merchant M]', async () => {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-routing-cli-'));
    dirs.push(data);
    // server commands refuse a directory that is not a service data dir (precheck server init)
    expect((await cli('server', 'init', '--data', data)).code).toBe(0);
    const set = await cli('server', 'routing', '--merchant', 'shop-1', '--objective', 'value', '--margin-bps', '1200', '--data', data);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('merchant shop-1: routing objective value, margin 1200 bps\n');
    expect((await cli('server', 'routing', '--objective', 'success', '--data', data)).stdout).toBe('default: routing objective success\n');
    const bad = await cli('server', 'routing', '--objective', 'value', '--data', data);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--margin-bps');
    expect((await cli('server', 'routing', '--merchant', 'shop-1', '--data', data)).stdout).toBe('merchant shop-1: routing objective value, margin 1200 bps\n');
  }, 180_000);
});
