// Promise-returning writes to a stream socket that respect backpressure and fail (instead of
// hanging) when the socket is gone.

import type { Socket } from 'node:net';

export function writeToSocket(sock: Socket, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (sock.destroyed || !sock.writable) return reject(new Error('socket closed'));
    sock.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/** Remove a stale unix socket file left by a crashed process; other files are left alone. */
export async function removeStaleSocket(path: string): Promise<void> {
  const fs = await import('node:fs/promises');
  try {
    const st = await fs.lstat(path);
    if (st.isSocket()) await fs.unlink(path);
  } catch {
    // absent: nothing to do
  }
}
