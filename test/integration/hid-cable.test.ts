// Host <-> device over the USB HID virtual cable, with real processes: the emulator
// (`precheck device emulate --hid-socket`) as a child, the bridge's registry, pairing and
// SecureDeviceClient in the test process.
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../protocol/messages/index.ts';
import { createDeviceRegistry, type DeviceRegistryImpl } from '../../host-bridge/discovery/registry.ts';
import { HidCableTransport } from '../../host-bridge/transports/hid-cable-transport.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import { SecureDeviceClient } from '../../host-bridge/session/secure-client.ts';
import type { SessionTransport } from '../../host-bridge/session/exchange.ts';
import { killAllTracked, waitForOutput } from '../../testkit/process.ts';
import { buildFirmwareRelease } from '../../protocol/dataset/index.ts';
import { encodeFirmwareImage } from '../../device/core/index.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { onceEvent } from '../../testkit/wait.ts';
import { CARDS, bridgeConfig, failureCode, order, provisionDevice, pushDataset, serviceKeys, startEmulator, testDataset, type Emulator } from './fixtures.ts';

/** Records every request's bytes on its way to the device. */
class Recording extends EventEmitter implements SessionTransport {
  readonly sent: Uint8Array[] = [];
  constructor(readonly inner: SessionTransport) {
    super();
    inner.on?.('disconnect', (...a: unknown[]) => this.emit('disconnect', ...a));
  }
  get link() {
    return this.inner.link;
  }
  get address() {
    return this.inner.address;
  }
  request(msg: Uint8Array, opts?: { timeoutMs?: number }) {
    this.sent.push(Uint8Array.from(msg));
    return this.inner.request(msg, opts);
  }
  close() {
    return this.inner.close();
  }
}

describe('integration: HID cable', () => {
  let tmp: TempDir;
  let emu: Emulator;
  let registry: DeviceRegistryImpl;
  let pins: PinStore;
  let deviceId: string;
  const keys = serviceKeys();
  const hidSock = () => tmp.file('hid.sock');

  beforeAll(async () => {
    tmp = makeTempDir('precheck-it-hid-');
    ({ deviceId } = await provisionDevice(tmp.file('dev'), keys));
    emu = await startEmulator(['--data', tmp.file('dev'), '--hid-socket', hidSock(), '--auto-confirm']);
    expect(emu.output()).toContain(`listening hid-cable ${hidSock()} id ${deviceId}`);
    pins = PinStore.open(tmp.file('bridge'));
    // reconnect on: a first INFO answer that came late on a loaded machine is asked again
    registry = createDeviceRegistry(bridgeConfig(tmp.file('bridge'), { cables: { hidSocket: hidSock() } }), pins, { statusIntervalMs: 0, reconnectMs: 500 });
    await registry.start();
    while (!registry.get(deviceId)) await onceEvent(registry, 'attached', 60_000);
  });

  afterAll(async () => {
    await registry?.stop();
    await killAllTracked();
    tmp?.cleanup();
  });

  it('discovers the device unpaired, pairs it (device auto-confirms), pushes a signed dataset through SYNC', async () => {
    const h = registry.get(deviceId)!;
    expect(h).toBeDefined();
    expect(h.summary()).toMatchObject({ id: deviceId, link: 'hid-cable', paired: false, datasetState: 'none' });
    expect(registry.pick()).toBeUndefined();
    let shown = '';
    const s = await registry.pair(deviceId, async (c) => {
      shown = c;
      return true;
    });
    expect(s.paired).toBe(true);
    expect(emu.output()).toContain(`PAIRING CODE ${shown} device ${deviceId}`);
    expect(registry.pick()?.id).toBe(deviceId);
    expect(await pushDataset(h, testDataset(keys))).toBe(1);
    expect(await h.refreshStatus()).toMatchObject({ datasetVersion: 1, datasetState: 'fresh', healthy: true });
  });

  it('verifies every decision path over the encrypted link', async () => {
    const h = registry.get(deviceId)!;
    const approve = await h.verify(order(CARDS.knownGood));
    expect(approve).toMatchObject({ decision: 'approve', reason: 'known_good', bin: '424242', last4: '4242', datasetVersion: 1 });
    expect(approve.token).toMatch(/^[0-9a-f]{32}$/);
    expect(await h.verify(order(CARDS.restricted))).toMatchObject({ decision: 'decline', reason: 'restricted' });
    const review = await h.verify(order(CARDS.softDecline));
    expect(review).toMatchObject({ decision: 'review', reason: 'soft_decline' });
    expect(review.prompt?.message).toBeTruthy();
    expect(await h.verify(order(CARDS.unknown))).toMatchObject({ decision: 'escalate' });
  });

  it('refuses a host that is not paired (NOT_PAIRED), and nothing is verified', async () => {
    const strangerPins = PinStore.open(tmp.file('stranger'));
    const t = await HidCableTransport.open({ socketPath: hidSock() });
    const c = new SecureDeviceClient({ transport: t, pinStore: strangerPins });
    const info = await c.info();
    strangerPins.pin(deviceId, { staticKey: info.staticKey, link: 'hid-cable', address: t.address });
    expect(await failureCode(c.verify(order(CARDS.knownGood)))).toBe('NOT_PAIRED');
    await c.close();
  });

  it('refuses a replayed SECURE (REPLAY) and answers a retransmission from its cache', async () => {
    const raw = await HidCableTransport.open({ socketPath: hidSock() });
    const rec = new Recording(raw);
    const c = new SecureDeviceClient({ transport: rec, pinStore: pins });
    await c.verify(order(CARDS.knownGood));
    const first = rec.sent.at(-1)!;
    await c.verify(order(CARDS.restricted));
    const second = rec.sent.at(-1)!;
    expect(decodeMessage(first).type).toBe('SECURE');
    const replay = decodeMessage(await raw.request(first, { timeoutMs: 3000 }));
    expect(replay).toMatchObject({ type: 'ERROR', code: 0x25 });
    const again = await raw.request(second, { timeoutMs: 3000 });
    expect(decodeMessage(again).type).toBe('SECURE_RES');
    // forged: next nonce, flipped ciphertext bit
    const m = decodeMessage(second);
    if (m.type !== 'SECURE') throw new Error('not SECURE');
    const ct = Uint8Array.from(m.ciphertext);
    ct[3] ^= 0x40;
    const forged = decodeMessage(await raw.request(encodeMessage({ type: 'SECURE', id: 9, nonce: m.nonce + 5, ciphertext: ct }), { timeoutMs: 3000 }));
    expect(forged).toMatchObject({ type: 'ERROR', id: 9, code: 0x24 });
    // the session is intact
    expect((await c.verify(order(CARDS.knownGood))).decision).toBe('approve');
    const st = await c.status();
    expect(st.framesRejected).toBeGreaterThanOrEqual(2);
    await c.close();
  });

  it('refuses a device that is not the pinned one (same id, other key): IDENTITY_MISMATCH', async () => {
    // An impostor provisioned with the same device id but its own static key.
    await provisionDevice(tmp.file('impostor'), keys, deviceId);
    const imp = await startEmulator(['--data', tmp.file('impostor'), '--hid-socket', tmp.file('imp.sock'), '--auto-confirm']);
    const t = await HidCableTransport.open({ socketPath: tmp.file('imp.sock') });
    const alerts: string[] = [];
    const c = new SecureDeviceClient({ transport: t, pinStore: pins, onSecurityEvent: (l) => alerts.push(l) });
    expect(await failureCode(c.verify(order(CARDS.knownGood)))).toBe('IDENTITY_MISMATCH');
    expect(alerts.join('\n')).toContain('IDENTITY_MISMATCH');
    expect(c.summary()).toMatchObject({ healthy: false });
    await c.close();
    await imp.stop();
  });

  it('firmware update: FW_COMMIT reboots the emulated device on trial, the client re-opens its session, FW_CONFIRM makes it permanent', async () => {
    const h = registry.get(deviceId)!;
    const now = Math.floor(Date.now() / 1000);
    const rel = buildFirmwareRelease(encodeFirmwareImage({ version: 2, selfTest: 'ok', body: new Uint8Array(900) }), { version: 2, createdAt: now, chunkSize: 256 }, keys.signing.privateKey);
    let st = await h.fwBegin(rel.manifestBytes);
    while (st.nextChunk < st.totalChunks) st = await h.fwChunk(st.version, st.nextChunk, rel.chunks[st.nextChunk]);
    const booted = waitForOutput(emu.child, /booted firmware 2 \(trial\)/, { stream: 'stdout', timeoutMs: 10_000 });
    expect(await h.fwCommit(2)).toEqual({ version: 2, state: 1 });
    await booted;
    expect(await h.fwConfirm(2)).toEqual({ version: 2, state: 0 });
    expect(await h.refreshStatus()).toMatchObject({ firmwareVersion: 2, firmwareState: 'confirmed', datasetVersion: 1 });
    expect((await h.verify(order(CARDS.knownGood))).decision).toBe('approve');
  });

  it('a device killed mid-exchange fails the request promptly with DISCONNECTED, not a hang', async () => {
    const h = registry.get(deviceId)!;
    const detached = onceEvent(registry, 'detached', 10_000);
    emu.child.kill('SIGSTOP'); // the request reaches a device that no longer answers...
    const pending = h.verify(order(CARDS.knownGood), { timeoutMs: 60_000 });
    emu.child.kill('SIGKILL'); // ...and then the device dies with the exchange in flight
    expect(await failureCode(pending, 'verify to fail after the device died', 10_000)).toBe('DISCONNECTED');
    expect(await detached).toEqual([deviceId]);
    expect(registry.pick()).toBeUndefined();
    expect(h.summary().healthy).toBe(false);
  });
});
