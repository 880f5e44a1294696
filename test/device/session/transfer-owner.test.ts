// Two hosts syncing one device: the device itself refuses a second host's transfer requests with
// TRANSFER_OWNED while the first host's transfer is in progress and that host was active recently, and lets
// the second one take over once the first went quiet (device/session/dispatcher.ts). Real
// DeviceCore on SQLite, real Noise KK sessions for two paired hosts on two connections, a manual
// clock for the idle time.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSnapshot, generateSigningKeyPair, type BuiltRelease } from '../../../protocol/dataset/index.ts';
import { cardToken } from '../../../protocol/dataset/token.ts';
import { decodeInner, decodeMessage, encodeMessage, type InnerMessage, type Message } from '../../../protocol/messages/index.ts';
import { SessionInitiator, generateStaticKeyPair, type SecureChannel, type StaticKeyPair } from '../../../protocol/secure/index.ts';
import { DriverConnection } from '../../../device/links/connection.ts';
import { DEFAULT_TRANSFER_IDLE_MS, SessionDispatcher } from '../../../device/session/dispatcher.ts';
import { openSessionCore, type OpenedCore } from '../../../device/session/core-adapter.ts';
import { DeviceCore } from '../../../device/core/index.ts';
import { ERROR_CODES } from '../../../protocol/errors.ts';
import { makeTempDir, type TempDir } from '../../../testkit/tmp.ts';

const OWNED = ERROR_CODES.TRANSFER_OWNED;
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
const signer = generateSigningKeyPair();
const cardKey = new Uint8Array(32).fill(7);
let n = 0;

function release(version: number, cards: number): BuiltRelease {
  const now = Math.floor(Date.now() / 1000);
  const restricted = Array.from({ length: cards }, (_, i) => ({ token: cardToken(cardKey, `41111111${String(i).padStart(8, '0')}`), reason: 'stolen' }));
  return buildSnapshot(
    { restricted, knownGood: [], history: [], binRules: [], prompts: [], routes: [] },
    { version, createdAt: now - 60, expiresAt: now + 86400, chunkSize: 256 },
    signer.privateKey,
  );
}

describe('device: one transfer owner at a time', () => {
  let tmp: TempDir;
  let core: OpenedCore;
  let d: SessionDispatcher;
  const clock = { ms: 1_000_000 };

  beforeEach(async () => {
    tmp = makeTempDir('precheck-owner-');
    DeviceCore.open(tmp.dir, { provision: { serverSigningPublicKey: signer.publicKey, cardKey } }).close();
    core = await openSessionCore(tmp.dir);
    d = new SessionDispatcher({ core, confirmPairing: async () => false, nowMs: () => clock.ms });
  });
  afterEach(() => {
    d.close();
    core.close();
    tmp.cleanup();
  });

  /** A paired host with a session on its own connection; `call` sends one inner request. */
  async function host(key: StaticKeyPair = generateStaticKeyPair()) {
    if (!core.pairedHosts.isPaired(key.publicKey)) core.pairedHosts.add(key.publicKey);
    const c = new DriverConnection(`owner-test:${++n}`, 'hid-cable');
    const si = new SessionInitiator({ staticKeyPair: key, deviceStatic: core.staticKeyPair().publicKey });
    const resp = decodeMessage(await d.handle(encodeMessage({ type: 'SESSION_INIT', id: 1, noise: si.init() }), c)) as Message;
    if (resp.type !== 'SESSION_RESP') throw new Error(`expected SESSION_RESP, got ${resp.type}`);
    const ch: SecureChannel = si.finish(resp.noise).channel;
    let id = 10;
    const call = async (m: WithoutId<InnerMessage>): Promise<Message> => {
      const sealed = ch.seal(encodeMessage({ ...m, id: ++id } as Message));
      const r = decodeMessage(await d.handle(encodeMessage({ type: 'SECURE', id: ++id, ...sealed }), c)) as Message;
      if (r.type !== 'SECURE_RES') throw new Error(`expected SECURE_RES, got ${JSON.stringify(r)}`);
      return decodeInner(ch.open(r)) as Message;
    };
    return { key, conn: c, call };
  }

  it('a second host gets TRANSFER_OWNED with a clear message while the first transfers; afterwards it may sync', async () => {
    const a = await host();
    const b = await host();
    const r1 = release(1, 200);
    expect(r1.chunks.length).toBeGreaterThan(4);
    expect(await a.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes })).toMatchObject({ type: 'SYNC_STATE', version: 1, nextChunk: 0 });
    expect(await a.call({ type: 'SYNC_CHUNK', version: 1, index: 0, data: r1.chunks[0] })).toMatchObject({ nextChunk: 1 });

    clock.ms += 30_000;
    const refused = await b.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes });
    expect(refused).toMatchObject({ type: 'ERROR', code: OWNED });
    if (refused.type === 'ERROR') expect(refused.message).toMatch(/dataset transfer v1 in progress from another host .*active 30 s ago.*retry when it ends or after 60 s/);
    // nor may it push chunks into, commit or abort the other host's transfer
    expect(await b.call({ type: 'SYNC_CHUNK', version: 1, index: 1, data: r1.chunks[1] })).toMatchObject({ type: 'ERROR', code: OWNED });
    expect(await b.call({ type: 'SYNC_ABORT', version: 1 })).toMatchObject({ type: 'ERROR', code: OWNED });
    expect(await b.call({ type: 'SYNC_COMMIT', version: 1 })).toMatchObject({ type: 'ERROR', code: OWNED });
    // reading the state is fine
    expect(await b.call({ type: 'SYNC_STATUS' })).toMatchObject({ type: 'SYNC_STATE', version: 1, nextChunk: 1 });

    for (let i = 1; i < r1.chunks.length; i++) await a.call({ type: 'SYNC_CHUNK', version: 1, index: i, data: r1.chunks[i] });
    expect(await a.call({ type: 'SYNC_COMMIT', version: 1 })).toMatchObject({ type: 'SYNC_DONE', activeVersion: 1 });

    // the transfer is over: the other host syncs the next version
    const r2 = release(2, 10);
    expect(await b.call({ type: 'SYNC_BEGIN', manifest: r2.manifestBytes })).toMatchObject({ type: 'SYNC_STATE', version: 2 });
    for (let i = 0; i < r2.chunks.length; i++) await b.call({ type: 'SYNC_CHUNK', version: 2, index: i, data: r2.chunks[i] });
    expect(await b.call({ type: 'SYNC_COMMIT', version: 2 })).toMatchObject({ type: 'SYNC_DONE', activeVersion: 2 });
  });

  it('once the first host went quiet for the idle time, another host takes over and resumes the transfer', async () => {
    const a = await host();
    const b = await host();
    const r1 = release(1, 200);
    await a.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes });
    for (let i = 0; i < 3; i++) await a.call({ type: 'SYNC_CHUNK', version: 1, index: i, data: r1.chunks[i] });

    clock.ms += DEFAULT_TRANSFER_IDLE_MS - 1000;
    expect(await b.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes })).toMatchObject({ type: 'ERROR', code: OWNED });
    clock.ms += 2000; // now silent for longer than the idle time
    expect(await b.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes })).toMatchObject({ type: 'SYNC_STATE', version: 1, nextChunk: 3 });
    // the first host is now the other one
    expect(await a.call({ type: 'SYNC_CHUNK', version: 1, index: 3, data: r1.chunks[3] })).toMatchObject({ type: 'ERROR', code: OWNED });
    for (let i = 3; i < r1.chunks.length; i++) await b.call({ type: 'SYNC_CHUNK', version: 1, index: i, data: r1.chunks[i] });
    expect(await b.call({ type: 'SYNC_COMMIT', version: 1 })).toMatchObject({ type: 'SYNC_DONE', activeVersion: 1 });
  });

  it('the same host on a new session (a bridge reconnecting or restarted) continues its own transfer', async () => {
    const key = generateStaticKeyPair();
    const a1 = await host(key);
    const r1 = release(1, 100);
    await a1.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes });
    await a1.call({ type: 'SYNC_CHUNK', version: 1, index: 0, data: r1.chunks[0] });
    a1.conn.close();
    const a2 = await host(key);
    expect(await a2.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes })).toMatchObject({ type: 'SYNC_STATE', version: 1, nextChunk: 1 });
    // another host is still refused: the owner is active
    const b = await host();
    expect(await b.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes })).toMatchObject({ type: 'ERROR', code: OWNED });
    // a device reboot forgets the owner (RAM state): the first host to come back continues
    d.resetSessions();
    const b2 = await host(b.key);
    expect(await b2.call({ type: 'SYNC_BEGIN', manifest: r1.manifestBytes })).toMatchObject({ type: 'SYNC_STATE', version: 1, nextChunk: 1 });
  });

  it('firmware transfers have an owner too', async () => {
    const a = await host();
    const b = await host();
    const fw = (await import('../../../protocol/dataset/build.ts')).buildFirmwareRelease(
      encodeMessage({ type: 'ACK', id: 1 }), // any bytes: the owner check runs before the image is looked at
      { version: 2, createdAt: Math.floor(Date.now() / 1000) - 60, chunkSize: 256 },
      signer.privateKey,
    );
    const began = await a.call({ type: 'FW_BEGIN', manifest: fw.manifestBytes });
    expect(began.type).not.toBe('ERROR');
    expect(await b.call({ type: 'FW_BEGIN', manifest: fw.manifestBytes })).toMatchObject({ type: 'ERROR', code: OWNED });
  });
});
