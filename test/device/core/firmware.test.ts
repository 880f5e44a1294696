import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DeviceCore } from '../../../device/core/device-core.ts';
import { encodeFirmwareImage, decodeFirmwareImage } from '../../../device/core/firmware-image.ts';
import { FACTORY_FIRMWARE_VERSION, firmwareImagePath } from '../../../device/core/firmware-receiver.ts';
import { buildFirmwareRelease, type BuiltRelease } from '../../../protocol/dataset/index.ts';
import { NOW, OTHER_SIGNER, SIGNER, openCore, coreEachTest } from './helpers.ts';

function release(version: number, selfTest: 'ok' | 'fail' = 'ok', opts: { imageVersion?: number; key?: Uint8Array } = {}): BuiltRelease {
  const image = encodeFirmwareImage({ version: opts.imageVersion ?? version, selfTest, notes: `build ${version}`, body: new Uint8Array(3000).fill(version) });
  return buildFirmwareRelease(image, { version, createdAt: NOW - 60, chunkSize: 512 }, opts.key ?? SIGNER.privateKey);
}

function send(core: DeviceCore, r: BuiltRelease) {
  core.fwBegin(r.manifestBytes);
  r.chunks.forEach((c, i) => core.fwChunk(r.manifest.version, i, c));
  return core.fwCommit(r.manifest.version);
}

describe('firmware receiver (A/B with trial boot)', () => {
  const t = coreEachTest();
  const reboot = () => {
    t.core.close();
    t.core = openCore(t.dir, { clock: t.clock });
    return t.core.bootResult;
  };

  it('commit → trial → reboot (self-test ok) → confirm → permanent', () => {
    expect(t.core.status()).toMatchObject({ firmwareVersion: FACTORY_FIRMWARE_VERSION, firmwareState: 'confirmed' });
    expect(send(t.core, release(2))).toEqual({ version: 2, state: 'trial' });
    expect(decodeFirmwareImage(new Uint8Array(fs.readFileSync(firmwareImagePath(t.dir, 'a')))).version).toBe(2);
    expect(reboot()).toMatchObject({ rolledBack: false });
    expect(t.core.status()).toMatchObject({ firmwareVersion: 2, firmwareState: 'trial' });
    expect(t.core.fwConfirm(2)).toEqual({ version: 2, state: 'confirmed' });
    expect(reboot()).toMatchObject({ rolledBack: false });
    expect(t.core.status()).toMatchObject({ firmwareVersion: 2, firmwareState: 'confirmed' });
    // next update goes to the other slot
    send(t.core, release(3));
    expect(t.core.firmware().slot).toBe('b');
  });

  it('a failing self-test rolls back at boot and says why', () => {
    send(t.core, release(2));
    t.core.fwConfirm(2);
    send(t.core, release(3, 'fail'));
    expect(t.core.status().firmwareState).toBe('trial');
    const boot = reboot();
    expect(boot).toMatchObject({ rolledBack: true, reason: 'self_test_failed' });
    expect(t.core.firmware()).toMatchObject({ version: 2, state: 'confirmed', slot: 'a', lastRollbackReason: 'self_test_failed' });
  });

  it('a trial image never confirmed is rolled back at the second boot', () => {
    send(t.core, release(2));
    expect(reboot()).toMatchObject({ rolledBack: false });
    expect(reboot()).toMatchObject({ rolledBack: true, reason: 'not_confirmed' });
    expect(t.core.firmware()).toMatchObject({ version: FACTORY_FIRMWARE_VERSION, state: 'confirmed', slot: null });
  });

  it('confirm without a reboot still runs the self-test', () => {
    send(t.core, release(2, 'fail'));
    expect(() => t.core.fwConfirm(2)).toThrow(expect.objectContaining({ code: 'FIRMWARE_INVALID' }));
    expect(t.core.firmware()).toMatchObject({ version: FACTORY_FIRMWARE_VERSION, state: 'confirmed' });
  });

  it('refuses forged, older and inconsistent images', () => {
    expect(() => t.core.fwBegin(release(2, 'ok', { key: OTHER_SIGNER.privateKey }).manifestBytes)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    );
    expect(() => t.core.fwBegin(release(FACTORY_FIRMWARE_VERSION).manifestBytes)).toThrow(expect.objectContaining({ code: 'DATASET_OLDER' }));
    expect(() => send(t.core, release(4, 'ok', { imageVersion: 5 }))).toThrow(expect.objectContaining({ code: 'FIRMWARE_INVALID' }));
    expect(t.core.fwState()).toEqual({ version: 0, nextChunk: 0, totalChunks: 0 });
    // a dataset manifest is not firmware, and firmware is not a dataset
    expect(() => t.core.syncBegin(release(6).manifestBytes)).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    // while a trial is pending, no further update starts
    send(t.core, release(2));
    expect(() => t.core.fwBegin(release(3).manifestBytes)).toThrow(expect.objectContaining({ code: 'SYNC_STATE' }));
    expect(t.core.firmware()).toMatchObject({ version: 2, state: 'trial' });
  });
});
