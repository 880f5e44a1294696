// The device's session dispatcher on the real DeviceCore (SQLite in a temp dir), driven with
// raw protocol messages as a host would send them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, type Message } from '../../../protocol/messages/index.ts';
import { PairingInitiator, SessionInitiator, generateStaticKeyPair, type StaticKeyPair } from '../../../protocol/secure/index.ts';
import { generateSigningKeyPair } from '../../../protocol/dataset/index.ts';
import { DriverConnection } from '../../../device/links/connection.ts';
import { SessionDispatcher } from '../../../device/session/dispatcher.ts';
import { openSessionCore, type OpenedCore } from '../../../device/session/core-adapter.ts';
import { DeviceCore } from '../../../device/core/index.ts';
import { makeTempDir, type TempDir } from '../../../testkit/tmp.ts';
import { deferred } from '../../../testkit/wait.ts';

let n = 0;
const conn = () => new DriverConnection(`test:${++n}`, 'hid-cable');

describe('SessionDispatcher on the real DeviceCore', () => {
  let tmp: TempDir;
  let core: OpenedCore;
  let answers: ReturnType<typeof deferred<boolean>>[];
  let d: SessionDispatcher;

  const make = (opts: { maxPairedHosts?: number; pairingTimeoutMs?: number } = {}) => {
    d?.close();
    answers = [];
    d = new SessionDispatcher({
      core,
      ...opts,
      confirmPairing: (_code, ctx) => {
        const a = deferred<boolean>();
        ctx.signal.addEventListener('abort', () => a.resolve(false));
        answers.push(a);
        return a.promise;
      },
    });
  };

  beforeEach(async () => {
    tmp = makeTempDir('precheck-dispatch-');
    DeviceCore.open(tmp.dir, { provision: { serverSigningPublicKey: generateSigningKeyPair().publicKey } }).close();
    core = await openSessionCore(tmp.dir);
    make();
  });
  afterEach(() => {
    d.close();
    core.close();
    tmp.cleanup();
  });

  const send = async (m: Message, c: DriverConnection): Promise<Message> => decodeMessage(await d.handle(encodeMessage(m), c)) as Message;
  /** A paired host opens a session on a new link: the host key, the link and the session's channel. */
  const openSession = async () => {
    const host = generateStaticKeyPair();
    core.pairedHosts.add(host.publicKey);
    const c = conn();
    const si = new SessionInitiator({ staticKeyPair: host, deviceStatic: core.staticKeyPair().publicKey });
    const resp = await send({ type: 'SESSION_INIT', id: 1, noise: si.init() }, c);
    if (resp.type !== 'SESSION_RESP') throw new Error('expected SESSION_RESP');
    return { host, c, ch: si.finish(resp.noise).channel };
  };

  /** Run XX up to PAIR_STATUS pending; returns the host key pair and the code. */
  async function startPairing(c: DriverConnection, host: StaticKeyPair = generateStaticKeyPair()) {
    const init = new PairingInitiator({ staticKeyPair: host });
    const resp = await send({ type: 'PAIR_INIT', id: 1, noise: init.init() }, c);
    if (resp.type !== 'PAIR_RESP') throw new Error(`expected PAIR_RESP, got ${JSON.stringify(resp)}`);
    const msg3 = init.finish(resp.noise);
    const st = await send({ type: 'PAIR_FINISH', id: 2, noise: msg3 }, c);
    return { host, code: init.result.code, st, deviceStatic: init.result.remoteStatic };
  }

  it('INFO and STATUS in clear, with the real core behind them', async () => {
    const info = await send({ type: 'INFO_REQ', id: 4 }, conn());
    expect(info).toMatchObject({ type: 'INFO_RES', id: 4, protocolVersion: 1, maxMessageSize: 7609, datasetState: 2, pairedHosts: 0, maxPairedHosts: 4 });
    if (info.type === 'INFO_RES') expect(Buffer.from(info.staticKey)).toEqual(Buffer.from(core.staticKeyPair().publicKey));
    expect(d.statusRegisters()).toMatchObject({ protocolVersion: 1, datasetState: 'none', framesRejected: 0 });
  });

  it('pairing waits for both users; the device stores the host key only then', async () => {
    const c = conn();
    const { host, st } = await startPairing(c);
    expect(st).toMatchObject({ type: 'PAIR_STATUS', state: 0 });
    expect(await send({ type: 'PAIR_CONFIRM', id: 3, accept: true }, c)).toMatchObject({ state: 0 });
    expect(core.pairedHosts.isPaired(host.publicKey)).toBe(false);
    answers[0].resolve(true);
    await answers[0].promise;
    expect(await send({ type: 'PAIR_POLL', id: 4 }, c)).toMatchObject({ type: 'PAIR_STATUS', id: 4, state: 1 });
    expect(core.pairedHosts.isPaired(host.publicKey)).toBe(true);
  });

  it('a pairing nobody confirms times out as rejected', async () => {
    make({ pairingTimeoutMs: 50 });
    const c = conn();
    await startPairing(c);
    // the device-side question is withdrawn when the pairing times out
    expect(await answers[0].promise).toBe(false);
    expect(await send({ type: 'PAIR_POLL', id: 5 }, c)).toMatchObject({ state: 2 });
    expect(core.pairedHosts.list()).toHaveLength(0);
  });

  it('one pairing at a time: a second link gets BUSY while the first waits; closing the first frees it', async () => {
    const a = conn();
    await startPairing(a);
    const b = conn();
    const init = new PairingInitiator({ staticKeyPair: generateStaticKeyPair() });
    expect(await send({ type: 'PAIR_INIT', id: 1, noise: init.init() }, b)).toMatchObject({ type: 'ERROR', code: 0x14 });
    a.close();
    expect(await answers[0].promise).toBe(false);
    const { st } = await startPairing(b);
    expect(st).toMatchObject({ state: 0 });
  });

  it('PAIR_POLL / PAIR_CONFIRM / PAIR_FINISH out of order are NO_SESSION, a bad msg3 is HANDSHAKE_FAILED', async () => {
    const c = conn();
    expect(await send({ type: 'PAIR_POLL', id: 1 }, c)).toMatchObject({ type: 'ERROR', code: 0x26 });
    expect(await send({ type: 'PAIR_CONFIRM', id: 2, accept: true }, c)).toMatchObject({ type: 'ERROR', code: 0x26 });
    expect(await send({ type: 'PAIR_FINISH', id: 3, noise: new Uint8Array(64) }, c)).toMatchObject({ type: 'ERROR', code: 0x26 });
    const init = new PairingInitiator({ staticKeyPair: generateStaticKeyPair() });
    await send({ type: 'PAIR_INIT', id: 4, noise: init.init() }, c);
    expect(await send({ type: 'PAIR_FINISH', id: 5, noise: new Uint8Array(64) }, c)).toMatchObject({ type: 'ERROR', code: 0x23 });
    expect(core.status().framesRejected).toBe(4);
  });

  it('PAIRING_FULL once maxPairedHosts hosts are paired', async () => {
    make({ maxPairedHosts: 1 });
    core.pairedHosts.add(generateStaticKeyPair().publicKey);
    const init = new PairingInitiator({ staticKeyPair: generateStaticKeyPair() });
    expect(await send({ type: 'PAIR_INIT', id: 1, noise: init.init() }, conn())).toMatchObject({ type: 'ERROR', code: 0x22 });
  });

  it('a forged SESSION_INIT does not end the current session; a paired host opens one per link', async () => {
    const { host, c, ch } = await openSession();
    // right hint, but encrypted to another device key: does not authenticate
    const forged = new SessionInitiator({ staticKeyPair: host, deviceStatic: generateStaticKeyPair().publicKey }).init();
    expect(await send({ type: 'SESSION_INIT', id: 2, noise: forged }, c)).toMatchObject({ type: 'ERROR', code: 0x23 });
    const sealed = ch.seal(encodeMessage({ type: 'STATUS_REQ', id: 9 }));
    const r = await send({ type: 'SECURE', id: 3, nonce: sealed.nonce, ciphertext: sealed.ciphertext }, c);
    expect(r.type).toBe('SECURE_RES');
    // the session belongs to this link only
    expect(await send({ type: 'SECURE', id: 4, nonce: 5, ciphertext: sealed.ciphertext }, conn())).toMatchObject({ type: 'ERROR', code: 0x26 });
    expect(d.connectionCount).toBe(2);
    c.close();
    expect(d.connectionCount).toBe(1);
  });

  it('inner errors travel sealed (e.g. SYNC_STATE from the core), and the device keeps answering', async () => {
    const { c, ch } = await openSession();
    const sealed = ch.seal(encodeMessage({ type: 'SYNC_COMMIT', id: 11, version: 7 }));
    const r = await send({ type: 'SECURE', id: 2, ...sealed }, c);
    if (r.type !== 'SECURE_RES') throw new Error('expected SECURE_RES');
    const inner = decodeMessage(ch.open(r));
    expect(inner).toMatchObject({ type: 'ERROR', id: 11 });
    // an inner message that is not a request (a response type) is refused, sealed
    const bogus = ch.seal(encodeMessage({ type: 'ACK', id: 12 }));
    const r2 = await send({ type: 'SECURE', id: 3, ...bogus }, c);
    if (r2.type !== 'SECURE_RES') throw new Error('expected SECURE_RES');
    expect(decodeMessage(ch.open(r2))).toMatchObject({ type: 'ERROR', id: 12, code: 0x04 });
    expect(await send({ type: 'INFO_REQ', id: 13 }, c)).toMatchObject({ type: 'INFO_RES' });
  });
});
