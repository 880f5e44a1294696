// Parent side of emulator-entry.ts: start an emulated device in a child process, wait for its
// "ready" line, read its RS485 wire counters over IPC, stop it.

import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmulateOptions } from '../../device/emulator/emulate.ts';
import { exited, killAndWait, track, waitForOutput } from '../../testkit/process.ts';
import { withTimeout } from '../../testkit/wait.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../..');

export interface EmulatorProcess {
  pid: number;
  ids: string[];
  /** stdout so far (status lines only: the emulator never prints card data) */
  output(): string;
  /** Bytes and frames the device's RS485 driver has written (0 without RS485). */
  wire(): Promise<{ bytes: number; frames: number }>;
  stop(): Promise<void>;
}

export async function startEmulatorProcess(
  opts: Pick<EmulateOptions, 'dataDir' | 'rs485' | 'hidSocket' | 'bleSocket' | 'bleFrame'>,
  readyTimeoutMs = 30_000,
): Promise<EmulatorProcess> {
  const child = track(
    fork(path.join(here, 'emulator-entry.ts'), [JSON.stringify(opts)], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  );
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  try {
    await waitForOutput(child, /precheck-device: ready/, { stream: 'stdout', timeoutMs: readyTimeoutMs });
  } catch (e) {
    await killAndWait(child);
    throw new Error(`emulator did not start: ${(e as Error).message}\nstderr: ${err.slice(-2000)}`);
  }
  const ids = [...out.matchAll(/precheck-device: device (pc-[0-9a-f]{12})/g)].map((m) => m[1]);
  let seq = 0;
  return {
    pid: child.pid ?? -1,
    ids,
    output: () => out,
    wire: () => {
      const mine = ++seq;
      const answer = new Promise<{ bytes: number; frames: number }>((resolve) => {
        const on = (m: unknown): void => {
          const msg = m as { type?: string; seq?: number; bytes: number; frames: number };
          if (msg?.type === 'wire' && msg.seq === mine) {
            child.off('message', on);
            resolve({ bytes: msg.bytes, frames: msg.frames });
          }
        };
        child.on('message', on);
      });
      child.send({ type: 'wire', seq: mine });
      return withTimeout(answer, 5000, 'emulator wire counters');
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = exited(child).catch(() => undefined);
      try {
        child.send({ type: 'close' });
        await withTimeout(done, 5000, 'emulator to exit');
      } catch {
        await killAndWait(child);
      }
    },
  };
}
