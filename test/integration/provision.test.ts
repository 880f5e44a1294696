// Issue 13 item 11: `precheck device provision` never invents a card key. It takes both keys from
// the network service (GET /v1/admin/provisioning with the admin key) or from --server-key and
// --card-key, and refuses to run without a card key. Real CLI processes, a real service on loopback.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllTracked, run } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { startService, type Service } from '../sync/harness.ts';
import { BIN, ROOT } from './fixtures.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('precheck device provision: the card key is the service’s, or nothing is provisioned', () => {
  let tmp: TempDir;
  let svc: Service;
  const provision = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [BIN, 'device', 'provision', ...args], { cwd: ROOT, timeoutMs: 60_000, env: { ...process.env, PRECHECK_ADMIN_KEY: '', ...env } });
  const identity = (dir: string, file: string) => fs.readFileSync(path.join(dir, 'identity', file));

  beforeAll(async () => {
    tmp = makeTempDir('precheck-provision-');
    svc = await startService();
    fs.writeFileSync(tmp.file('admin.key'), `${svc.s.adminKey}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await killAllTracked();
    await svc?.close();
    tmp?.cleanup();
  });

  it('without --card-key or --service: refused in one line (exit 2), no identity written', async () => {
    const r = await provision(['--data', tmp.file('none'), '--server-key', hex(svc.s.signingPublicKey)]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/needs the service's card key: --card-key .* or --service URL --admin-key/);
    expect(fs.existsSync(tmp.file('none'))).toBe(false);
  });

  it('--service with the admin key file: both keys fetched from the service', async () => {
    const dir = tmp.file('fetched');
    const r = await provision(['--data', dir, '--service', svc.s.url, '--admin-key', tmp.file('admin.key')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/provisioned pc-[0-9a-f]{12} data /);
    expect(hex(identity(dir, 'card.key'))).toBe(hex(svc.s.service.keys.cardKey));
    expect(hex(identity(dir, 'dataset-signing.pub'))).toBe(hex(svc.s.signingPublicKey));
    // the admin key never shows in the output
    expect(r.stdout + r.stderr).not.toContain(svc.s.adminKey);
  });

  it('--service: a wrong admin key, a missing one, or a --card-key that is not the service’s are refused', async () => {
    const bad = await provision(['--data', tmp.file('bad'), '--service', svc.s.url, '--admin-key', `ak_${'x'.repeat(32)}`]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/refused the admin key/)]);
    const missing = await provision(['--data', tmp.file('missing'), '--service', svc.s.url]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/--service needs the admin key/)]);
    const other = await provision(['--data', tmp.file('other'), '--service', svc.s.url, '--card-key', '11'.repeat(32)], { PRECHECK_ADMIN_KEY: svc.s.adminKey });
    expect([other.code, other.stderr]).toEqual([2, expect.stringMatching(/--card-key differs from the card key of the service/)]);
    for (const d of ['bad', 'missing', 'other']) expect(fs.existsSync(tmp.file(d))).toBe(false);
  });

  it('GET /v1/admin/provisioning needs the admin key (a bridge key is refused) and is not cacheable', async () => {
    const url = `${svc.s.url}/v1/admin/provisioning`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${svc.bridgeKey}` } })).status).toBe(403);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${svc.s.adminKey}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(await ok.json()).toEqual({ signingPublicKey: hex(svc.s.signingPublicKey), cardKey: hex(svc.s.service.keys.cardKey) });
  });
});
