// `precheck sync` as a process: argument errors, no bridge, and an unreachable service.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../testkit/process.ts';
import { holdPort } from '../../testkit/port.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { BIN, ROOT } from '../integration/fixtures.ts';

/** A port nothing listens on (any more). */
async function deadPort(): Promise<number> {
  const held = await holdPort();
  await held.close();
  return held.port;
}

describe('precheck sync (CLI)', () => {
  let tmp: TempDir;
  let cfg: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    tmp = makeTempDir('precheck-sync-cli-');
    const svcPort = await deadPort();
    const bridgePort = await deadPort();
    cfg = tmp.file('bridge.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({ listen: { host: '127.0.0.1', port: bridgePort }, dataDir: tmp.file('bridge'), network: { serviceUrl: `http://127.0.0.1:${svcPort}`, apiKey: 'k', timeoutMs: 500, retries: 0 } }),
    );
    env = { ...process.env, PRECHECK_BRIDGE_URL: '' };
    delete env.PRECHECK_BRIDGE_URL;
  });
  afterAll(() => tmp.cleanup());

  const sync = (...args: string[]) => run(process.execPath, [BIN, 'sync', ...args], { cwd: ROOT, env, timeoutMs: 30_000 });

  it('--device with --all is a usage error (exit 2)', async () => {
    const r = await sync('--all', '--device', 'pc-000000000001', '--config', cfg);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--device ID or --all, not both/);
  });

  it('--via-bridge with no bridge running: exit 3, says so', async () => {
    const r = await sync('--all', '--via-bridge', '--config', cfg);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no bridge answers at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('no bridge, service unreachable: opens devices itself, fails clearly with exit 3', async () => {
    const r = await sync('--all', '--config', cfg);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/network service http:\/\/127\.0\.0\.1:\d+.*unreachable/);
    expect(r.stdout).toMatch(/network service .*SERVICE_UNAVAILABLE/);
  });

  it('a malformed --signing-key is a usage error', async () => {
    const r = await sync('--all', '--local', '--signing-key', 'nothex', '--config', cfg);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--signing-key must be 64 hex characters/);
  });
});
