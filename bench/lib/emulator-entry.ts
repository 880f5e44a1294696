// Child-process entry for benchmarks: the real emulator (device/emulator/emulate.ts, the same
// code `precheck device emulate` runs) in its own process, as a device is its own machine, plus
// an IPC channel the parent uses to read the RS485 driver's wire counters (bytes and frames the
// device put on the line). Started by emulator-process.ts with the options as JSON in argv[2].
// Ends when the parent says 'close', on SIGTERM, or when the parent goes away (IPC disconnect),
// so a crashed benchmark never leaves a device behind.

import { startEmulator, type EmulateOptions } from '../../device/emulator/emulate.ts';

type WireCounter = { wire?: { bytes: number; frames: number } };

const opts = JSON.parse(process.argv[2] ?? '{}') as Omit<EmulateOptions, 'out' | 'ask'>;
const emu = await startEmulator({ ...opts, autoConfirm: true });

let ending = false;
async function end(code = 0): Promise<void> {
  if (ending) return;
  ending = true;
  await emu.close().catch(() => undefined);
  process.exit(code);
}

process.on('message', (m: unknown) => {
  const msg = m as { type?: string; seq?: number };
  if (msg?.type === 'wire') {
    let bytes = 0;
    let frames = 0;
    for (const d of emu.drivers as unknown as WireCounter[]) {
      if (d.wire) {
        bytes += d.wire.bytes;
        frames += d.wire.frames;
      }
    }
    process.send?.({ type: 'wire', seq: msg.seq, bytes, frames });
  } else if (msg?.type === 'close') {
    void end(0);
  }
});
process.on('disconnect', () => void end(0));
process.on('SIGTERM', () => void end(0));
