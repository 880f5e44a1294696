// User story: the firmware/data-sync cron job. `precheck sync --all` runs as its own process (as
// cron would start it) against the devices of a running bridge; its exit code tells the job's
// outcome: 0 when every device is up to date, non-zero naming the device that could not be synced.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllTracked, run } from '../../testkit/process.ts';
import { SPARE_TEST_CARDS } from '../../tools/up/demo-data.ts';
import { postJson } from './helpers/http.ts';
import { removeDir, startUpFixture, type UpFixture } from './helpers/up-fixture.ts';

const BIN = path.resolve('bin/precheck.js');
let fx: UpFixture;

/** A restricted card through the service's admin import (tokenised on arrival): new dataset content. */
async function importRestricted(pan: string, admin: string): Promise<Response> {
  const res = await fetch(`${fx.up.serverUrl}/v1/admin/restricted/import`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv', authorization: `Bearer ${admin}` },
    body: `${pan},cron_test\n`,
    signal: AbortSignal.timeout(30_000),
  });
  await res.text();
  return res;
}

function syncAll() {
  return run(process.execPath, [BIN, 'sync', '--all', '--config', fx.up.paths.bridgeConfig, '--url', fx.up.bridgeUrl], { timeoutMs: 120_000 });
}

beforeAll(async () => {
  // No demo data: this story is about the job, not the answers.
  fx = await startUpFixture({ seed: false });
}, 180_000);

afterAll(async () => {
  await fx?.close();
  await killAllTracked();
  if (fx) removeDir(fx.dir);
}, 60_000);

describe('firmware/data-sync cron: precheck sync --all', () => {
  it('exits 0 when every device is already up to date', async () => {
    const r = await syncAll();
    expect(r.stderr).toMatch(/asking the running bridge/);
    expect(r.code).toBe(0);
    for (const d of fx.up.devices) expect(r.stdout).toContain(d.id);
  });

  it('brings every device to a newly published dataset, exit 0', async () => {
    const admin = fx.adminKey();
    const before = Math.max(...fx.up.devices.map((d) => d.datasetVersion));
    // New reference data on the service, published as a new signed dataset.
    expect((await importRestricted(SPARE_TEST_CARDS.mastercard, admin)).status).toBe(200);
    const pub = await postJson(`${fx.up.serverUrl}/v1/admin/publish`, undefined, admin);
    expect(pub.json.version).toBeGreaterThan(before);

    const r = await syncAll();
    expect(r.code).toBe(0);
    const json = await run(process.execPath, [BIN, 'sync', '--all', '--json', '--url', fx.up.bridgeUrl, '--config', fx.up.paths.bridgeConfig], { timeoutMs: 120_000 });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    const rows = report.results.filter((x: { kind?: string }) => x.kind === 'dataset');
    expect(rows.map((x: { device: string }) => x.device).sort()).toEqual(fx.up.devices.map((d) => d.id).sort());
    for (const row of rows) expect(row.to ?? row.from).toBe(pub.json.version);

    const devices = (await fetch(`${fx.up.bridgeUrl}/v1/devices`).then((x) => x.json())) as { devices: { datasetVersion: number }[] };
    for (const d of devices.devices) expect(d.datasetVersion).toBe(pub.json.version);
  });

  it('exits non-zero and names the device when one is unreachable', async () => {
    const gone = fx.up.devices.find((d) => d.link === 'hid-cable')!;
    const stays = fx.up.devices.find((d) => d.link === 'rs485')!;
    await fx.up.stopChild('device-usb');
    // Something to do, so the unreachable device really needs a sync.
    await importRestricted(SPARE_TEST_CARDS.amex, fx.adminKey());
    await postJson(`${fx.up.serverUrl}/v1/admin/publish`, undefined, fx.adminKey());

    const r = await syncAll();
    expect(r.code).not.toBe(0);
    expect(r.code).toBe(4);
    const lastLine = r.stderr.trim().split('\n').pop()!;
    expect(lastLine).toContain(gone.id);
    expect(lastLine).not.toContain(stays.id);
  });
});
