// The floor limit end to end: the real network service (HTTP, SQLite) learns a floor from the
// outcomes of new cards, publishes it in a signed dataset, a real device core installs that
// dataset and approves an unknown card below the floor locally; a fraud burst reported next makes
// the following dataset carry no floor, and the same device escalates the next unknown card.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceCore } from '../../device/core/device-core.ts';
import { luhnComplete } from '../../contracts/pan-guard.ts';
import type { RunningServer } from '../../server/start.ts';
import { serversEachTest, uid } from './helpers.ts';

/** A card number none of the reported outcomes is about (their tokens are hashes, not these cards'). */
const cardNumber = (n: number) => luhnComplete(`400000123456${String(n).padStart(3, '0')}`);

const T0 = 1_800_000_000;
const scope = serversEachTest();
const cores: { core: DeviceCore; dir: string }[] = [];
afterEach(() => {
  for (const c of cores.splice(0)) {
    c.core.close();
    fs.rmSync(c.dir, { recursive: true, force: true });
  }
});

/** Installs the service's dataset `version` on the device as a bridge would (manifest, chunks, commit). */
async function install(s: RunningServer, core: DeviceCore, version: number): Promise<void> {
  const manifest = (await s.service.storage.datasetManifest(version))!;
  const chunks = (await s.service.storage.datasetChunks(version))!;
  const st = core.syncBegin(manifest);
  for (let i = st.nextChunk; i < chunks.length; i++) core.syncChunk(version, i, chunks[i]);
  core.syncCommit(version);
}

describe('floor limit: service → dataset → device', () => {
  it('the device approves an unknown card below the learned floor; after a fraud burst the next dataset has no floor and it escalates', async () => {
    const clock = { t: T0 };
    const s = await scope.start({ dataDir: scope.tempDir('precheck-floor-'), now: () => clock.t * 1000 });
    const key = (await s.issueKey('merchant-floor')).key;
    const post = async (p: string, body: unknown, k = key) =>
      (await fetch(s.url + p, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).status;
    expect(await post('/v1/admin/gateways', { name: 'gw-a', feePerAttempt: 10, feeBps: 0 }, s.adminKey)).toBe(200);
    const outcome = (i: number, extra: Record<string, unknown> = {}) => ({
      idempotencyKey: uid(), token: crypto.createHash('sha256').update(`card-${i}`).digest().subarray(0, 16).toString('hex'),
      bin: '400000', last4: '0002', brand: 'visa', orderId: `o-${i}`, amount: 2000 + (i % 10) * 500, currency: 'EUR',
      gateway: 'gw-a', status: 'success', at: T0 - 3600 + i * 60, crossBorder: false, ...extra,
    });
    // 50 new cards, each paid at the first attempt (every tenth declined 05)
    for (let i = 0; i < 50; i++) expect(await post('/v1/outcomes', outcome(i, i % 10 === 9 ? { status: 'failure', code: '05', type: 'soft' } : {}))).toBe(200);

    const first = await s.service.publisher.publish('test', true);
    const content = (await s.service.publisher.contentOf(first.info.version))!;
    expect(content.floorLimits?.limits).toEqual([{ brand: 'visa', currency: 'EUR', region: 'dom', limit: 5500 }]); // the 75th percentile of their amounts
    // budget: twice the hour's 50 new cards
    expect(content.floorLimits).toMatchObject({ maxApprovals: 100, windowSeconds: 3600 });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-floor-dev-'));
    const core = DeviceCore.open(dir, { now: () => clock.t * 1000, provision: { serverSigningPublicKey: s.signingPublicKey, cardKey: s.service.keys.cardKey }, journalFlushMs: 0, merchantCountry: 'DE' });
    cores.push({ core, dir });
    await install(s, core, first.info.version);
    const pan = cardNumber(1);
    expect(core.verify({ pan, amount: 5000, currency: 'EUR', country: 'DE', orderId: 'new-1' })).toMatchObject({ decision: 'approve', reason: 'floor_limit', gateway: 'gw-a' });
    expect(core.verify({ pan: cardNumber(2), amount: 5501, currency: 'EUR', country: 'DE', orderId: 'new-2' })).toMatchObject({ decision: 'escalate', reason: 'unknown_card' });

    // a wave of stolen cards: lost/stolen and fraud answers within minutes
    clock.t = T0 + 600;
    for (let i = 0; i < 5; i++) {
      expect(await post('/v1/outcomes', outcome(1000 + i, { at: T0 + 300 + i * 30, status: 'failure', code: i % 2 ? '43' : '59', type: i % 2 ? 'hard' : 'fraud', crossBorder: true }))).toBe(200);
    }
    const second = await s.service.publisher.publish('test', true);
    expect((await s.service.publisher.contentOf(second.info.version))!.floorLimits).toBeUndefined();
    await install(s, core, second.info.version);
    expect(core.verify({ pan: cardNumber(3), amount: 1000, currency: 'EUR', country: 'DE', orderId: 'new-3' })).toMatchObject({ decision: 'escalate', reason: 'unknown_card' });
  });

  it('with floorLimits off (`precheck server --floor-limits off`) the same outcomes publish no floor', async () => {
    const s = await scope.start({ dataDir: scope.tempDir('precheck-floor-off-'), now: () => T0 * 1000, floorLimits: false });
    const key = (await s.issueKey('merchant-floor')).key;
    for (let i = 0; i < 50; i++) {
      const body = {
        idempotencyKey: uid(), token: crypto.createHash('sha256').update(`card-${i}`).digest().subarray(0, 16).toString('hex'),
        bin: '400000', last4: '0002', brand: 'visa', orderId: `o-${i}`, amount: 3000, currency: 'EUR', gateway: 'gw-a', status: 'success', at: T0 - 3600 + i * 60, crossBorder: false,
      };
      const res = await fetch(s.url + '/v1/outcomes', { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
    }
    const pub = await s.service.publisher.publish('test', true);
    expect((await s.service.publisher.contentOf(pub.info.version))!.floorLimits).toBeUndefined();
  });
});
