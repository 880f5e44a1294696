// A connected pair of pseudo-terminals from socat, like two UARTs wired together (a master and a
// slave on one RS485 pair). Copied from test/helpers/pty-pair.ts so benchmarks do not depend on
// test code. A pty ignores the baud rate: timing comes from the project's PacedSerialWriter,
// which paces every write on /dev/pts/* paths by default.
//
//   socat -d -d pty,raw,echo=0 pty,raw,echo=0
// prints "N PTY is /dev/pts/N" twice on stderr, then "starting data transfer loop".

import { killAndWait, spawnTracked, waitForOutput } from './child-process.ts';

export interface PtyPair {
  /** First end (the master's port). */
  a: string;
  /** Second end (the slave's port). */
  b: string;
  pid: number;
  /** Stop socat and wait for it; idempotent. */
  close(): Promise<void>;
}

export async function openPtyPair(opts: { timeoutMs?: number } = {}): Promise<PtyPair> {
  const child = spawnTracked('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const m = await waitForOutput(child, /PTY is (\/dev\/pts\/\d+)[\s\S]*PTY is (\/dev\/pts\/\d+)[\s\S]*starting data transfer loop/, {
      stream: 'stderr',
      timeoutMs: opts.timeoutMs ?? 10_000,
    });
    child.stderr?.resume(); // keep draining so socat never blocks on a full pipe
    let closed: Promise<void> | undefined;
    return { a: m[1], b: m[2], pid: child.pid ?? -1, close: () => (closed ??= killAndWait(child)) };
  } catch (e) {
    await killAndWait(child);
    throw e;
  }
}
