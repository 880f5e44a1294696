// Session layer end to end in one process: the device's SessionDispatcher behind a loopback
// transport, the bridge's pairDevice / SecureDeviceClient / PinStore in front of it.
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../protocol/errors.ts';
import { decodeMessage, encodeMessage } from '../../../protocol/messages/index.ts';
import { SessionDispatcher } from '../../../device/session/dispatcher.ts';
import { PinStore } from '../../../host-bridge/session/pin-store.ts';
import { pairDevice } from '../../../host-bridge/session/pairing.ts';
import { SecureDeviceClient } from '../../../host-bridge/session/secure-client.ts';
import { makeTempDir, type TempDir } from '../../../testkit/tmp.ts';
import { stubCore, type StubCore } from '../../device/session/stub-core.ts';
import { LoopbackTransport } from './loopback.ts';

const CARD = { pan: '4111111111111110', expMonth: 12, expYear: 2030, amount: 1999, currency: 'EUR' };

async function rejects(p: Promise<unknown>, code: string): Promise<ProtocolError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, `expected ${code}`).toBeInstanceOf(ProtocolError);
  expect((e as ProtocolError).code).toBe(code);
  return e as ProtocolError;
}

describe('pairing, sessions and the secure channel (in process)', () => {
  let tmp: TempDir;
  let core: StubCore;
  let device: SessionDispatcher;
  let deviceAnswer: boolean;
  let deviceCodes: string[];
  let pins: PinStore;
  let t: LoopbackTransport;

  beforeEach(() => {
    tmp = makeTempDir('precheck-session-');
    core = stubCore();
    deviceAnswer = true;
    deviceCodes = [];
    device = new SessionDispatcher({
      core,
      confirmPairing: async (code) => {
        deviceCodes.push(code);
        return deviceAnswer;
      },
    });
    pins = PinStore.open(tmp.dir);
    t = new LoopbackTransport(device.handle);
  });
  afterEach(() => {
    device.close();
    tmp.cleanup();
  });

  const pair = (confirm = true, store = pins, transport = t) =>
    pairDevice(transport, async () => confirm, { pinStore: store, pollIntervalMs: 1 });

  it('pairs when both users accept: same code on both sides, key pinned on the host and stored on the device', async () => {
    const r = await pair();
    expect(r.code).toMatch(/^\d{6}$/);
    expect(deviceCodes).toEqual([r.code]);
    expect(Buffer.from(r.pinned.staticKey)).toEqual(Buffer.from(core.keys.publicKey));
    expect(core.pairedHosts.isPaired(pins.hostKeyPair().publicKey)).toBe(true);
    // persisted, 0600, host private key never changes across reopen
    const again = PinStore.open(tmp.dir);
    expect(again.get(r.info.deviceId)?.address).toBe(t.address);
    expect(Buffer.from(again.hostKeyPair().privateKey)).toEqual(Buffer.from(pins.hostKeyPair().privateKey));
    expect(fs.statSync(pins.file).mode & 0o777).toBe(0o600);
  });

  it('host-side refusal: PAIRING_REJECTED, nothing stored on either side', async () => {
    await rejects(pair(false), 'PAIRING_REJECTED');
    expect(core.pairedHosts.list()).toHaveLength(0);
    expect(pins.list()).toHaveLength(0);
  });

  it('device-side refusal: PAIRING_REJECTED, nothing stored on either side', async () => {
    deviceAnswer = false;
    await rejects(pair(true), 'PAIRING_REJECTED');
    expect(core.pairedHosts.list()).toHaveLength(0);
    expect(pins.list()).toHaveLength(0);
  });

  it('refuses more hosts than maxPairedHosts with PAIRING_FULL', async () => {
    device = new SessionDispatcher({ core, confirmPairing: async () => true, maxPairedHosts: 1 });
    t = new LoopbackTransport(device.handle);
    await pair();
    const other = PinStore.open(makeTempDir('precheck-session2-').dir);
    await rejects(pair(true, other, t), 'PAIRING_FULL');
    expect(core.pairedHosts.list()).toHaveLength(1);
  });

  it('verifies through the session after pairing, every decision mapped', async () => {
    await pair();
    const c = new SecureDeviceClient({ transport: t, pinStore: pins });
    const approve = await c.verify(CARD);
    expect(approve).toMatchObject({ decision: 'approve', reason: 'known_good', bin: '411111', last4: '1110', prompt: null });
    expect(approve.token).toMatch(/^[0-9a-f]{32}$/);
    expect((await c.verify({ ...CARD, pan: '4111111111111111' })).decision).toBe('decline');
    const review = await c.verify({ ...CARD, pan: '4111111111111112' });
    expect(review.decision).toBe('review');
    expect(review.prompt).toEqual({ code: 'try_smaller', message: 'Try a smaller amount', lang: 'en' });
    expect((await c.verify({ ...CARD, pan: '4111111111111113' })).decision).toBe('escalate');
    expect(c.summary()).toMatchObject({ paired: true, healthy: true, id: 'pc-0123456789ab' });
    // the PAN never crossed the link in clear
    const pan = Buffer.from(CARD.pan);
    for (const b of t.sent) expect(Buffer.from(b).includes(pan)).toBe(false);
  });

  it('an unpaired host is refused with NOT_PAIRED and nothing runs', async () => {
    const c = new SecureDeviceClient({ transport: t, pinStore: pins });
    await c.info();
    // pin the device without the device knowing this host
    pins.pin(c.id, { staticKey: core.keys.publicKey, link: 'hid-cable', address: t.address });
    await rejects(c.verify(CARD), 'NOT_PAIRED');
    expect(core.verifyCalls).toBe(0);
  });

  it('an inner message in clear is NO_SESSION and counted; garbage is MALFORMED; the device keeps answering', async () => {
    const before = core.rejected;
    const clear = await device.handle(encodeMessage({ type: 'STATUS_REQ', id: 5 }), t.conn);
    expect(decodeMessage(clear)).toMatchObject({ type: 'STATUS_RES', id: 5 });
    // VERIFY_REQ is inner-only: encode it by hand as a plain map {0: 0x10, 1: 9}
    const verifyInClear = Uint8Array.from([0xa2, 0x00, 0x10, 0x01, 0x09]);
    expect(decodeMessage(await device.handle(verifyInClear, t.conn))).toMatchObject({ type: 'ERROR', id: 9, code: 0x26 });
    expect(decodeMessage(await device.handle(Uint8Array.from([0xff, 0x00, 0x13]), t.conn))).toMatchObject({ type: 'ERROR', code: 0x01 });
    expect(decodeMessage(await device.handle(encodeMessage({ type: 'SECURE', id: 3, nonce: 0, ciphertext: new Uint8Array(16) }), t.conn))).toMatchObject({
      type: 'ERROR',
      id: 3,
      code: 0x26,
    });
    expect(core.rejected - before).toBe(3);
    expect(decodeMessage(await device.handle(encodeMessage({ type: 'INFO_REQ', id: 6 }), t.conn))).toMatchObject({ type: 'INFO_RES', id: 6 });
  });

  it('replays: an older SECURE is REPLAY, the same bytes again get the cached answer without running twice, a forged one is DECRYPT_FAILED', async () => {
    await pair();
    const c = new SecureDeviceClient({ transport: t, pinStore: pins });
    await c.verify(CARD);
    const first = t.sent.at(-1)!;
    await c.verify({ ...CARD, pan: '4111111111111111' });
    const second = t.sent.at(-1)!;
    const calls = core.verifyCalls;

    const old = decodeMessage(await device.handle(first, t.conn));
    expect(old).toMatchObject({ type: 'ERROR', code: 0x25 });

    const a1 = await device.handle(second, t.conn);
    const a2 = await device.handle(second, t.conn);
    expect(decodeMessage(a1).type).toBe('SECURE_RES');
    expect(Buffer.from(a2)).toEqual(Buffer.from(a1));
    expect(core.verifyCalls).toBe(calls);

    const m = decodeMessage(second);
    if (m.type !== 'SECURE') throw new Error('expected SECURE');
    const forged = Uint8Array.from(m.ciphertext);
    forged[0] ^= 1;
    const f = decodeMessage(await device.handle(encodeMessage({ type: 'SECURE', id: 77, nonce: m.nonce + 1, ciphertext: forged }), t.conn));
    expect(f).toMatchObject({ type: 'ERROR', id: 77, code: 0x24 });
    // the channel is unharmed
    expect((await c.verify(CARD)).decision).toBe('approve');
  });

  it('a lost answer is retransmitted with the same bytes and executed once', async () => {
    await pair();
    const c = new SecureDeviceClient({ transport: t, pinStore: pins });
    await c.verify(CARD);
    const calls = core.verifyCalls;
    t.loseAnswers = 1;
    const r = await c.verify({ ...CARD, pan: '4111111111111112' });
    expect(r.decision).toBe('review');
    expect(core.verifyCalls).toBe(calls + 1);
    expect(Buffer.from(t.sent.at(-1)!)).toEqual(Buffer.from(t.sent.at(-2)!));
  });

  it('a device that lost the session (link re-established) gets a new session transparently', async () => {
    await pair();
    const c = new SecureDeviceClient({ transport: t, pinStore: pins });
    await c.verify(CARD);
    t.reconnect();
    expect((await c.verify(CARD)).decision).toBe('approve');
    const types = t.sent.slice(-3).map((b) => decodeMessage(b).type);
    expect(types).toEqual(['SECURE', 'SESSION_INIT', 'SECURE']);
  });

  it('a pinned key that the device cannot match is IDENTITY_MISMATCH, loudly, and the device is not used', async () => {
    await pair();
    const lines: string[] = [];
    const id = pins.list()[0].deviceId;
    // The host pinned another key under this id (e.g. the device was swapped).
    const impostorKey = stubCore().keys.publicKey;
    pins.pin(id, { staticKey: impostorKey, link: 'hid-cable', address: t.address });
    const c = new SecureDeviceClient({ transport: t, pinStore: pins, onSecurityEvent: (l) => lines.push(l) });
    await rejects(c.verify(CARD), 'IDENTITY_MISMATCH');
    expect(lines.join('\n')).toMatch(/SECURITY: IDENTITY_MISMATCH/);
    expect(c.summary()).toMatchObject({ healthy: false });
    expect(c.summary().lastError).toMatch(/IDENTITY_MISMATCH/);
    await rejects(c.verify(CARD), 'IDENTITY_MISMATCH');
    expect(core.verifyCalls).toBe(0);
  });

  it('KK against a wrong pinned key: the device answers HANDSHAKE_FAILED and the host reports IDENTITY_MISMATCH', async () => {
    await pair();
    const id = pins.list()[0].deviceId;
    const wrong = stubCore().keys.publicKey;
    pins.pin(id, { staticKey: wrong, link: 'hid-cable', address: t.address });
    // A relay that makes INFO announce the pinned key, so only the handshake can tell.
    const relay = new LoopbackTransport(async (msg, conn) => {
      const ans = await device.handle(msg, conn);
      const m = decodeMessage(ans);
      return m.type === 'INFO_RES' ? encodeMessage({ ...m, staticKey: wrong }) : ans;
    });
    const c = new SecureDeviceClient({ transport: relay, pinStore: pins, onSecurityEvent: () => undefined });
    const before = core.rejected;
    await rejects(c.verify(CARD), 'IDENTITY_MISMATCH');
    const last = decodeMessage(relay.sent.at(-1)!);
    expect(last.type).toBe('SESSION_INIT');
    expect(core.rejected).toBe(before + 1);
    expect(core.verifyCalls).toBe(0);
  });

  it('sync and firmware calls go through the channel', async () => {
    await pair();
    const c = new SecureDeviceClient({ transport: t, pinStore: pins });
    expect(await c.syncBegin(new Uint8Array([1, 2, 3]))).toEqual({ version: 5, nextChunk: 0, totalChunks: 2 });
    expect(await c.syncChunk(5, 0, new Uint8Array(10))).toEqual({ version: 5, nextChunk: 1, totalChunks: 2 });
    await rejects(c.syncChunk(5, 0, new Uint8Array(10)), 'SYNC_STATE');
    expect(await c.syncState()).toEqual({ version: 5, nextChunk: 1, totalChunks: 2 });
    expect(await c.syncCommit(5)).toBe(5);
    await c.syncAbort(5);
    expect(await c.fwCommit(2)).toEqual({ version: 2, state: 1 });
    expect(await c.fwConfirm(2)).toEqual({ version: 2, state: 0 });
    await c.unpair();
    expect(core.pairedHosts.list()).toHaveLength(0);
    expect(pins.list()).toHaveLength(0);
  });
});
