// The one clock unit (docs/architecture.md, "Time"): injected clocks count ms; a clock still in
// Unix seconds is refused where it is injected instead of silently expiring every dataset.
import { describe, expect, it } from 'vitest';
import { checkNowMs, toUnixSeconds } from '../../runtime/clock.ts';
import { resolveOptions } from '../../server/config.ts';
import { DeviceCore } from '../../device/core/device-core.ts';
import { makeTempDir } from '../../testkit/tmp.ts';
import { generateSigningKeyPair } from '../../protocol/dataset/index.ts';

const T_MS = 1_800_000_000_123;

describe('clock unit', () => {
  it('converts to whole Unix seconds at the edge', () => {
    expect(toUnixSeconds(T_MS)).toBe(1_800_000_000);
    expect(toUnixSeconds(1_800_000_000_999)).toBe(1_800_000_000);
  });

  it('refuses a clock in seconds, for the service and the device core alike', () => {
    expect(() => checkNowMs(() => 1_800_000_000, 'x')).toThrow(/ms since the Unix epoch/);
    expect(checkNowMs(() => T_MS, 'x')()).toBe(T_MS);
    expect(() => resolveOptions({ dataDir: '', now: () => 1_800_000_000 })).toThrow(/ServerOptions.now/);
    expect(resolveOptions({ dataDir: '', now: () => T_MS }).now()).toBe(T_MS);
    const tmp = makeTempDir('precheck-clock-');
    try {
      expect(() => DeviceCore.open(tmp.dir, { now: () => 1_800_000_000, provision: { serverSigningPublicKey: generateSigningKeyPair().publicKey } })).toThrow(/DeviceCoreOptions.now/);
    } finally {
      tmp.cleanup();
    }
  });
});
