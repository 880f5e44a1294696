import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, validateConfig, parseFallback } from '../../host-bridge/config.ts';
import { makeTempDir } from './temp-dir.ts';

let dir: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => dir.remove());

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('CONFIG_INVALID');
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('bridge config', () => {
  it('has safe defaults', () => {
    const c = validateConfig({});
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8787, names: [] });
    expect(c.rateLimit.perMinute).toBe(6000);
    expect(c.outbox.retentionDays).toBe(30);
    expect(c.token).toBeNull();
    expect(c.dataDir).toBe('./.precheck/bridge');
    expect(c.fallback).toEqual({ kind: 'review' });
    expect(c.network.serviceUrl).toBeNull();
    expect(c.network.breaker).toEqual({ failureThreshold: 5, resetMs: 30_000 });
    expect(c.devices).toEqual({ rs485: { ports: [] }, usb: null, cables: { hidSocket: null, bleSocket: null }, ble: { enabled: false } });
    expect(c.lang).toBe('en');
  });

  it('reads a JSON file and lets PRECHECK_* variables override it', () => {
    const file = join(dir.path, 'bridge.json');
    writeFileSync(
      file,
      JSON.stringify({
        listen: { port: 9000 },
        network: { serviceUrl: 'http://127.0.0.1:7000/', timeoutMs: 1500 },
        devices: { rs485: { ports: [{ path: '/dev/ttyUSB0', baud: 115200, addresses: { from: 1, to: 8 } }] }, usb: { vid: '0x1209', pid: 4660 }, cables: { hidSocket: '/tmp/hid.sock' } },
        sync: { schedule: '*/15 * * * *' },
        merchant: { country: 'DE' },
      }),
    );
    const c = loadConfig({ file, env: { PRECHECK_BRIDGE_PORT: '9100', PRECHECK_FALLBACK: 'approve-below:2500:EUR', PRECHECK_API_KEY: 'pk_abc', PRECHECK_BLE_ENABLED: 'true' } });
    expect(c.listen.port).toBe(9100);
    expect(c.network).toMatchObject({ serviceUrl: 'http://127.0.0.1:7000', apiKey: 'pk_abc', timeoutMs: 1500 });
    expect(c.fallback).toEqual({ kind: 'approve-below', limit: 2500, currency: 'EUR' });
    expect(c.devices.rs485.ports).toEqual([{ path: '/dev/ttyUSB0', baud: 115200, addresses: { from: 1, to: 8 } }]);
    expect(c.devices.usb).toEqual({ vid: 0x1209, pid: 4660 });
    expect(c.devices.cables.hidSocket).toBe('/tmp/hid.sock');
    expect(c.devices.ble.enabled).toBe(true);
    expect(c.sync.schedule).toBe('*/15 * * * *');
    expect(c.merchant.country).toBe('DE');
  });

  it('follows new datasets by default (header and a 20 s poll); both settable, also from the environment', () => {
    expect(validateConfig({}).sync).toEqual({ schedule: null, follow: true, pollSeconds: 20 });
    expect(loadConfig({ env: { PRECHECK_SYNC_FOLLOW: 'false', PRECHECK_SYNC_POLL_SECONDS: '0' } }).sync).toMatchObject({ follow: false, pollSeconds: 0 });
    expect(errorOf(() => validateConfig({ sync: { pollSeconds: 4000 } }))).toContain('sync.pollSeconds must be an integer from 0 to 3600');
    expect(errorOf(() => validateConfig({ sync: { follow: 'sometimes' } }))).toContain('sync.follow must be true or false');
  });

  it('requires a bearer token when bound beyond loopback', () => {
    expect(errorOf(() => validateConfig({ listen: { host: '0.0.0.0' } }))).toMatch(/^config: token is required when listen.host is not loopback/);
    expect(validateConfig({ listen: { host: '0.0.0.0' }, token: 'x'.repeat(32) }).token).toHaveLength(32);
    expect(validateConfig({ listen: { host: '::1' } }).token).toBeNull();
    expect(errorOf(() => validateConfig({ token: 'short' }))).toContain('token must be at least 16 characters');
  });

  it('one clear line per problem, naming the key', () => {
    expect(errorOf(() => validateConfig({ listen: { port: 70000 } }))).toBe('config: listen.port must be an integer from 0 to 65535 (got 70000)');
    expect(errorOf(() => validateConfig({ network: { timeot: 5 } }))).toContain('config: network.timeot is not a known key');
    expect(errorOf(() => validateConfig({ network: { serviceUrl: 'ftp://x' } }))).toContain('network.serviceUrl must be an http(s) URL');
    expect(errorOf(() => validateConfig({ fallback: 'approve' }))).toContain('fallback must be "decline", "review" or "approve-below');
    expect(errorOf(() => validateConfig({ sync: { schedule: 'every day' } }))).toContain('sync.schedule is not a valid cron expression');
    expect(errorOf(() => validateConfig({ devices: { rs485: { ports: [{ path: '/dev/x', addresses: { from: 10, to: 2 } }] } } }))).toContain('devices.rs485.ports[0].addresses.to');
    expect(errorOf(() => validateConfig({ devices: { rs485: { ports: [{ baud: 9600 }] } } }))).toContain('devices.rs485.ports[0].path is required');
    expect(errorOf(() => validateConfig({ merchant: { country: 'de' } }))).toContain('merchant.country must be an ISO 3166-1');
    expect(errorOf(() => validateConfig({ network: { backoffMs: 500, backoffMaxMs: 100 } }))).toContain('network.backoffMaxMs must be at least');
    expect(errorOf(() => loadConfig({ env: { PRECHECK_NETWORK_RETRIES: 'lots' } }))).toContain('network.retries must be an integer');
  });

  it('reports unreadable and invalid files in one line', () => {
    expect(errorOf(() => loadConfig({ file: join(dir.path, 'missing.json'), env: {} }))).toContain('ENOENT');
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, '{ "listen": ');
    expect(errorOf(() => loadConfig({ file: bad, env: {} }))).toContain('is not valid JSON');
  });

  it('parses fallback policies', () => {
    expect(parseFallback('decline')).toEqual({ kind: 'decline' });
    expect(parseFallback('approve-below:0')).toEqual({ kind: 'approve-below', limit: 0, currency: null });
    expect(() => parseFallback('approve-below:-1')).toThrow(ConfigError);
  });
});
