// The phone channel from the bridge's config file: `precheck bridge --config` with `ivr.enabled`
// serves the VoiceXML routes at the configured public URL; without it they do not exist. The
// `ivr` section is validated like every other key (one line naming the key) and merged under
// what code passes to startBridge (the dialler, the SMS adapter).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IVR_INT_SCHEMA, loadConfig, validateConfig } from '../../../host-bridge/config.ts';
import { ivrOptionsOf } from '../../../host-bridge/bridge.ts';
import { killAllTracked, killAndWait, spawnTracked, waitForOutput } from '../../../testkit/process.ts';
import { makeTempDir } from '../temp-dir.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'precheck.js');
const order = { id: 'o-cfg-1', amount: { value: 12_345, currency: 'EUR' } };

describe('ivr config section', () => {
  it('is off by default, with the channel’s own defaults', () => {
    const c = validateConfig({});
    expect(c.ivr).toEqual({
      enabled: false,
      publicUrl: null,
      defaultLang: null,
      capture: { sessionTtlMs: 600_000, maxErrors: 3, maxCards: 2, maxNoInput: 3 },
      campaigns: { lines: 4, maxAttempts: 3, baseBackoffMs: 300_000, maxBackoffMs: 3_600_000, defaultWindowMs: 86_400_000 },
    });
    expect(ivrOptionsOf(c, null)).toBeNull();
  });

  it('refuses bad values with one line naming the key', () => {
    const bad: [unknown, RegExp][] = [
      [{ ivr: { enable: true } }, /config: ivr\.enable is not a known key/],
      [{ ivr: { capture: { maxTries: 2 } } }, /config: ivr\.capture\.maxTries is not a known key \(known: sessionTtlMs, maxErrors, maxCards, maxNoInput\)/],
      [{ ivr: { enabled: 'perhaps' } }, /config: ivr\.enabled must be true or false/],
      [{ ivr: { publicUrl: 'ftp://pbx.example' } }, /config: ivr\.publicUrl must be an http\(s\) URL/],
      [{ ivr: { publicUrl: 'not a url' } }, /config: ivr\.publicUrl must be an http\(s\) URL/],
      [{ ivr: { defaultLang: 'French' } }, /config: ivr\.defaultLang must be a language tag/],
      [{ ivr: { campaigns: { lines: 0 } } }, /config: ivr\.campaigns\.lines must be an integer from 1 to 1000/],
      [{ ivr: { campaigns: { baseBackoffMs: 5000, maxBackoffMs: 1000 } } }, /config: ivr\.campaigns\.maxBackoffMs must be at least ivr\.campaigns\.baseBackoffMs \(5000\)/],
      [{ ivr: [] }, /config: ivr must be an object/],
    ];
    for (const [raw, msg] of bad) expect(() => validateConfig(raw), JSON.stringify(raw)).toThrow(msg);
    // Every integer key of the schema is checked against its range.
    for (const [key, [, min]] of Object.entries(IVR_INT_SCHEMA)) {
      const raw: Record<string, unknown> = {};
      const parts = key.split('.');
      let cur = raw;
      for (const p of parts.slice(0, -1)) cur = (cur[p] = {}) as Record<string, unknown>;
      cur[parts.at(-1)!] = min - 1;
      expect(() => validateConfig(raw), key).toThrow(new RegExp(`config: ${key.replace(/\./g, '\\.')} must be an integer from ${min}`));
    }
  });

  it('takes PRECHECK_IVR_ENABLED and PRECHECK_IVR_PUBLIC_URL from the environment', () => {
    const c = loadConfig({ env: { PRECHECK_IVR_ENABLED: 'true', PRECHECK_IVR_PUBLIC_URL: 'https://bridge.shop.example/' } });
    expect(c.ivr.enabled).toBe(true);
    expect(c.ivr.publicUrl).toBe('https://bridge.shop.example');
  });

  it('merges the config under what code passes (code wins), and code alone still enables it', () => {
    const c = validateConfig({ ivr: { enabled: true, publicUrl: 'https://pbx-facing.example', capture: { maxErrors: 5 }, campaigns: { lines: 8 } } });
    const dialler = { dial: async () => 'busy' as const };
    const o = ivrOptionsOf(c, { dialler, campaigns: { lines: 2 } })!;
    expect(o.dialler).toBe(dialler);
    expect(o.publicUrl).toBe('https://pbx-facing.example');
    expect(o.capture).toMatchObject({ maxErrors: 5, maxCards: 2 });
    expect(o.campaigns).toMatchObject({ lines: 2, maxAttempts: 3 });
    expect(ivrOptionsOf(validateConfig({}), { publicUrl: 'http://x.example' })?.publicUrl).toBe('http://x.example');
  });
});

describe('precheck bridge --config with and without ivr.enabled', () => {
  const dir = makeTempDir('precheck-ivr-cfg-');
  afterAll(async () => {
    await killAllTracked();
    dir.remove();
  });

  async function startFromFile(name: string, ivr: Record<string, unknown> | undefined): Promise<{ url: string; stop(): Promise<void> }> {
    const cfg = join(dir.path, `${name}.json`);
    writeFileSync(cfg, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, dataDir: join(dir.path, name), log: { level: 'warn' }, ...(ivr ? { ivr } : {}) }));
    // The environment must not switch the channel on or off behind the file's back.
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('PRECHECK_')) delete env[k];
    const child = spawnTracked(process.execPath, [BIN, 'bridge', '--config', cfg], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const m = await waitForOutput(child, /precheck bridge listening on (http:\/\/\S+)/, { stream: 'stderr', timeoutMs: 60_000 });
    return { url: m[1], stop: () => killAndWait(child, 10_000) };
  }

  it('serves the IVR routes when enabled, at the configured public URL', async () => {
    const b = await startFromFile('on', { enabled: true, publicUrl: 'https://ivr.shop.example:8443', defaultLang: 'fr' });
    try {
      const r = await fetch(`${b.url}/v1/ivr/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order }) });
      expect(r.status).toBe(200);
      const s = (await r.json()) as { sessionId: string; startUrl: string };
      expect(s.startUrl).toBe(`https://ivr.shop.example:8443/v1/ivr/s/${s.sessionId}/start`);
      // The platform's first fetch: a VoiceXML document in the configured default language.
      const doc = await fetch(`${b.url}${new URL(s.startUrl).pathname}`);
      expect(doc.status).toBe(200);
      expect(doc.headers.get('content-type')).toMatch(/voicexml/);
      expect(await doc.text()).toMatch(/xml:lang="fr/);
      // No dialler can come from a file: call-backs answer 501 NOT_CONFIGURED, call-ins work.
      const cb = await fetch(`${b.url}/v1/ivr/callbacks`);
      expect(cb.status).toBe(501);
      expect(((await cb.json()) as { error: { code: string } }).error.code).toBe('NOT_CONFIGURED');
    } finally {
      await b.stop();
    }
  }, 180_000);

  it('does not serve them when the section is absent or disabled', async () => {
    for (const [name, ivr] of [['absent', undefined], ['off', { enabled: false, publicUrl: 'https://ivr.shop.example' }]] as const) {
      const b = await startFromFile(name, ivr);
      try {
        const r = await fetch(`${b.url}/v1/ivr/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order }) });
        expect(r.status, name).toBe(404);
        // The bridge itself is up.
        expect((await fetch(`${b.url}/v1/health`)).status, name).toBe(200);
      } finally {
        await b.stop();
      }
    }
  }, 240_000);
});
