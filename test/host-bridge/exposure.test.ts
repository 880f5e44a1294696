// Issue 13 item 11, bridge side: beyond loopback the bridge API needs a token (config refuses to
// start without one) and, because it speaks plain HTTP, says loudly at start that the token and
// card numbers cross the network unencrypted; on loopback it says nothing.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../host-bridge/config.ts';
import { bridgePlainHttpWarning } from '../../host-bridge/bridge.ts';
import { bridgesEachTest } from './bridge-harness.ts';

const scope = bridgesEachTest();

describe('bridge listening beyond loopback', () => {
  it('without a token: refused at config time, naming the fix', () => {
    expect(() => validateConfig({ listen: { host: '0.0.0.0', port: 0 }, dataDir: '/tmp/x' })).toThrow(/token.*required when listen.host is not loopback/);
  });

  it('with a token: starts, and warns in its log that the API is plain HTTP (token and card numbers readable)', async () => {
    const dir = scope.tempDir('precheck-exposure-');
    const bridge = await scope.start({ dataDir: dir.path, raw: { listen: { host: '0.0.0.0', port: 0 }, token: 't'.repeat(24) } });
    const warn = bridge
      .readLog()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .find((l) => /beyond loopback over plain HTTP/.test(l.msg));
    expect(warn).toMatchObject({ level: 40 });
    expect(warn!.msg).toMatch(/WARNING: the bridge API listens on 0\.0\.0\.0:\d+ .*bearer token and the card numbers .* TLS reverse proxy/);
  });

  it('on loopback: no warning', async () => {
    const dir = scope.tempDir('precheck-exposure-');
    const bridge = await scope.start({ dataDir: dir.path });
    expect(bridge.readLog()).not.toMatch(/plain HTTP/);
    expect(bridgePlainHttpWarning('127.0.0.1', 1)).toBeNull();
    expect(bridgePlainHttpWarning('::1', 1)).toBeNull();
    expect(bridgePlainHttpWarning('192.168.1.20', 8787)).toMatch(/192\.168\.1\.20:8787/);
  });
});
