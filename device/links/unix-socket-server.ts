// The unix-socket half of a "virtual cable" server (device side): listen, hand each accepted
// socket to the link's `attach`, and tear every connection down on close. The HID and BLE cable
// servers differ only in what they put on the socket (64-byte reports vs GATT records), so they
// extend this and implement `attach`; the socket lifecycle is this class's alone.

import net from 'node:net';
import { LinkUnavailableError, describeCause } from '../../link-io/link-errors.ts';
import { removeStaleSocket } from '../../link-io/socket-writer.ts';

/** What a cable server keeps per accepted socket; closed when the socket or the server ends. */
export interface SocketSession {
  close(): void;
}

export abstract class UnixSocketServer<S extends SocketSession> {
  private server: net.Server | null = null;
  private readonly sessions = new Map<net.Socket, S>();
  private accepted = 0;

  constructor(readonly socketPath: string) {}

  /** Wire one accepted socket (numbered from 1) to its session; must not throw. */
  protected abstract attach(sock: net.Socket, n: number): S;

  /** Peers connected now (hosts on HID, centrals on BLE). */
  get connections(): number {
    return this.sessions.size;
  }

  async start(): Promise<void> {
    if (this.server) return;
    await removeStaleSocket(this.socketPath);
    const server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      const fail = (e: Error): void =>
        reject(new LinkUnavailableError('SOCKET_UNAVAILABLE', `cannot listen on ${this.socketPath}: ${describeCause(e)}`, e));
      server.once('error', fail);
      server.listen(this.socketPath, () => {
        server.off('error', fail);
        resolve();
      });
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const [sock, session] of this.sessions) {
      session.close();
      // Link loss as the peer sees it: the socket just closes (no goodbye on the wire).
      sock.destroy();
    }
    this.sessions.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(sock: net.Socket): void {
    const session = this.attach(sock, ++this.accepted);
    this.sessions.set(sock, session);
    sock.setNoDelay?.(true);
    sock.on('close', () => {
      session.close();
      this.sessions.delete(sock);
    });
    sock.on('error', () => sock.destroy());
  }
}
