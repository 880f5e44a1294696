// Loopback ports for tests: one held by a listening server (the "port already in use" cases).

import net from 'node:net';

/** A free loopback port, held by a listening server until close(). */
export async function holdPort(): Promise<{ port: number; close(): Promise<void> }> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}
