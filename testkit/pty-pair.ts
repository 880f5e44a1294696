// A connected pair of pseudo-terminals from socat: bytes written to one end come out of the
// other, like two UARTs wired together (or a master and a slave on one RS485 pair). A pty
// ignores the baud rate and moves bytes instantly, so anything about timing must be paced by the
// writer (see link-io/paced-serial-writer.ts).
//
//   socat -d -d pty,raw,echo=0 pty,raw,echo=0
// prints "N PTY is /dev/pts/N" twice on stderr, then "N starting data transfer loop" once both
// ends are ready.

import type { ChildProcess } from 'node:child_process';
import { killAndWait, spawnTracked, waitForOutput } from './process.ts';

export interface PtyPair {
  /** First end (e.g. the master's port). */
  a: string;
  /** Second end (e.g. the slave's port). */
  b: string;
  /** socat's pid, for diagnostics. */
  pid: number;
  /** Stop socat (and wait for it); both pty paths disappear. Idempotent. */
  close(): Promise<void>;
}

export async function openPtyPair(opts: { timeoutMs?: number } = {}): Promise<PtyPair> {
  const child: ChildProcess = spawnTracked('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  try {
    const m = await waitForOutput(child, /PTY is (\/dev\/pts\/\d+)[\s\S]*PTY is (\/dev\/pts\/\d+)[\s\S]*starting data transfer loop/, {
      stream: 'stderr',
      timeoutMs,
    });
    // Keep draining stderr so socat never blocks on a full pipe.
    child.stderr?.resume();
    let closed: Promise<void> | undefined;
    return {
      a: m[1],
      b: m[2],
      pid: child.pid ?? -1,
      close: () => (closed ??= killAndWait(child)),
    };
  } catch (e) {
    await killAndWait(child);
    throw e;
  }
}
