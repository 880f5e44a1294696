// What every virtual-cable link must do the same way, whatever its framing (HID reports or BLE
// fragments): keepalive, typed device errors, PING, cancel, timeout, disconnect in both
// directions. hid-cable.test.ts and ble-cable.test.ts run these against their own server and
// transport and add only what is particular to their framing.

import type { EventEmitter } from 'node:events';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { LinkConnection, MessageHandler } from '../../device/links/types.ts';
import type { MessageTransport } from '../../host-bridge/transports/types.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { Counter, deferred, onceEvent, withTimeout } from '../../testkit/wait.ts';

export type CableTransport = MessageTransport & EventEmitter & { ping(payload: Uint8Array): Promise<Uint8Array> };

export interface CableServer {
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Per-test state of one cable: the device handler, the connections it saw, rejected frames. */
export class CableRig<T extends CableTransport> {
  tmp!: TempDir;
  handler: MessageHandler = async (m) => m.slice();
  readonly conns: LinkConnection[] = [];
  readonly rejected = new Counter();
  server: CableServer | undefined;
  transport: T | undefined;

  /** The handler to give the device server: records each connection, then runs `handler`. */
  readonly deviceHandler: MessageHandler = (m, c) => {
    if (!this.conns.includes(c)) this.conns.push(c);
    return this.handler(m, c);
  };

  /** Registers the per-test setup and cleanup (temp dir, transport, server). */
  constructor(tmpPrefix: string) {
    beforeEach(() => {
      this.tmp = makeTempDir(tmpPrefix);
      this.handler = async (m) => m.slice();
      this.conns.length = 0;
    });
    afterEach(async () => {
      await this.transport?.close();
      this.transport = undefined;
      await this.server?.close();
      this.server = undefined;
      this.tmp.cleanup();
    });
  }

  /** Start `server`, then open the host side with `open`; both are closed after the test. */
  async connect(server: CableServer, open: () => Promise<T>): Promise<T> {
    this.server = server;
    await server.start();
    this.transport = await open();
    return this.transport;
  }
}

export function cableExchangeCases<T extends CableTransport>(
  rig: CableRig<T>,
  start: (opts?: { keepaliveMs?: number }) => Promise<T>,
): void {
  it('keepalives extend the exchange timeout while the handler is slow', async () => {
    const t = await start({ keepaliveMs: 50 });
    const keepalives = new Counter();
    t.on('keepalive', keepalives.bump);
    // The handler finishes only after 16 keepalives (~800 ms), twice the 400 ms idle timeout (the
    // margin between a 50 ms keepalive and a 400 ms timeout absorbs a loaded CI machine's stalls).
    rig.handler = async (m) => {
      await keepalives.reach(16, 10_000);
      return m.slice();
    };
    const answer = await t.request(Buffer.from('slow'), { timeoutMs: 400 });
    expect(Buffer.from(answer).toString()).toBe('slow');
    expect(keepalives.value).toBeGreaterThanOrEqual(16);
  });

  it('a device error travels back as a typed ProtocolError; the link keeps working; PING echoes', async () => {
    const t = await start();
    rig.handler = async () => {
      throw new ProtocolError('BUSY', 'core busy');
    };
    await expect(t.request(Buffer.from('x'))).rejects.toMatchObject({ code: 'BUSY' });
    rig.handler = async (m) => m;
    expect(Buffer.from(await t.request(Buffer.from('ok'))).toString()).toBe('ok');
    expect(Buffer.from(await t.ping(Buffer.from('hello'))).toString()).toBe('hello');
  });

  it('cancel: aborts the exchange, the device drops the late answer, the next exchange is clean', async () => {
    const t = await start();
    const release = deferred<Uint8Array>();
    const entered = deferred();
    rig.handler = () => {
      entered.resolve();
      return release.promise;
    };
    const ac = new AbortController();
    const pending = t.request(Buffer.from('first'), { signal: ac.signal, timeoutMs: 10_000 });
    await entered.promise;
    ac.abort();
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
    release.resolve(Buffer.from('late answer'));
    rig.handler = async (m) => m.slice();
    expect(Buffer.from(await t.request(Buffer.from('second'))).toString()).toBe('second');
  });

  it('times out (TIMEOUT) when the device stops talking, then recovers', async () => {
    const t = await start({ keepaliveMs: 60_000 });
    const release = deferred<Uint8Array>();
    rig.handler = () => release.promise;
    await expect(t.request(Buffer.from('x'), { timeoutMs: 200 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    rig.handler = async (m) => m.slice();
    expect(Buffer.from(await t.request(Buffer.from('after'))).toString()).toBe('after');
    release.resolve(new Uint8Array(0));
  });

  it('device closing the cable mid-exchange → DISCONNECTED promptly, and later requests too', async () => {
    const t = await start();
    const entered = deferred();
    rig.handler = () => {
      entered.resolve();
      return new Promise<Uint8Array>(() => undefined);
    };
    const closedConn = deferred();
    const disconnected = onceEvent(t, 'disconnect', 3000);
    const pending = t.request(Buffer.from('x'), { timeoutMs: 30_000 });
    await entered.promise;
    rig.conns[0].onClose(closedConn.resolve);
    await rig.server!.close();
    await withTimeout(expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' }), 2000, 'DISCONNECTED');
    await disconnected;
    await closedConn.promise; // the session layer is told the connection ended
    await expect(t.request(Buffer.from('y'))).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });

  it('a host disconnecting closes its LinkConnection on the device', async () => {
    const t = await start();
    await t.request(Buffer.from('hi'));
    const closed = deferred();
    rig.conns[0].onClose(closed.resolve);
    await t.close();
    await withTimeout(closed.promise, 2000, 'connection close');
  });
}
