// Writes RTU frames to a serial port no faster than the wire could carry them.
//
// A pseudo-terminal ignores the baud rate and moves bytes instantly, so on emulated buses the
// writer paces itself: a frame is handed to the port when its last byte would have left a real
// UART plus the t3.5 silence that ends an RTU frame, i.e. at
//     max(line free, now) + length × (bitsPerChar / baud) + t3.5
// and the line stays busy until then. The receiver therefore sees each frame at the moment a
// real receiver could first act on it, so latencies and throughput measured over a pty are the
// wire's, not the pty's. Frame-at-once delivery (rather than byte dribbling) is deliberate: a
// timer cannot fire per byte (87 µs at 115200 baud), and dribbled chunks would be torn apart by
// scheduling jitter longer than t3.5.
//
// On real hardware (paced: false) the UART paces the bytes; the writer still waits for the port
// to drain (tcdrain) and keeps the t3.5 silence before the next frame, as the standard requires.
//
// Shared by the device's slave driver and the host bridge's master.

import { aduWireTimeUs, interFrameGapUs } from '../protocol/framing/modbus-rtu.ts';

/** The part of serialport's SerialPort the writer uses (also satisfied by a test double). */
export interface SerialWriteSink {
  write(data: Uint8Array, cb?: (err?: Error | null) => void): boolean;
  drain(cb?: (err?: Error | null) => void): void;
}

export interface PacedSerialWriterOptions {
  baud: number;
  /** 10 for 8N1 (default), 11 for 8E1/8O1/8N2. */
  bitsPerChar?: number;
  /** true on emulated links (pty), false on a real UART. */
  paced: boolean;
}

export interface PacedWriteStats {
  frames: number;
  bytes: number;
  /** Total µs the writer held frames back to respect the line rate. */
  heldUs: number;
}

export class PacedSerialWriter {
  readonly baud: number;
  readonly bitsPerChar: number;
  readonly paced: boolean;
  readonly stats: PacedWriteStats = { frames: 0, bytes: 0, heldUs: 0 };
  private readonly gapUs: number;
  /** performance.now() (ms) at which the line is free for the next frame. */
  private lineFreeAt = 0;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly sleepers = new Map<NodeJS.Timeout, () => void>();

  constructor(
    private readonly sink: SerialWriteSink,
    opts: PacedSerialWriterOptions,
  ) {
    this.baud = opts.baud;
    this.bitsPerChar = opts.bitsPerChar ?? 10;
    this.paced = opts.paced;
    this.gapUs = interFrameGapUs(this.baud, this.bitsPerChar);
  }

  /** µs a frame of `length` bytes occupies the line (bytes + t3.5). */
  wireTimeUs(length: number): number {
    return aduWireTimeUs(length, this.baud, this.bitsPerChar);
  }

  /**
   * Queue one frame. Resolves once it has been handed to the port (paced) or drained (real
   * UART); frames go out in call order, never overlapping.
   */
  write(frame: Uint8Array): Promise<void> {
    const job = this.tail.then(() => this.writeNow(frame));
    // The chain must survive a failed write; the caller still sees the rejection.
    this.tail = job.catch(() => undefined);
    return job;
  }

  /** Drop pending timers; queued writes resolve without writing. */
  close(): void {
    this.closed = true;
    for (const [t, wake] of this.sleepers) {
      clearTimeout(t);
      wake();
    }
    this.sleepers.clear();
  }

  private async writeNow(frame: Uint8Array): Promise<void> {
    if (this.closed) return;
    const now = performance.now();
    if (this.paced) {
      const deliverAt = Math.max(this.lineFreeAt, now) + this.wireTimeUs(frame.length) / 1000;
      this.lineFreeAt = deliverAt;
      this.stats.heldUs += (deliverAt - now) * 1000;
      await this.sleepUntil(deliverAt);
      if (this.closed) return;
      await this.put(frame, false);
    } else {
      await this.sleepUntil(this.lineFreeAt);
      if (this.closed) return;
      await this.put(frame, true);
      this.lineFreeAt = performance.now() + this.gapUs / 1000;
    }
    this.stats.frames++;
    this.stats.bytes += frame.length;
  }

  private put(frame: Uint8Array, drain: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sink.write(frame, (err) => {
        if (err) return reject(err);
        if (!drain) return resolve();
        this.sink.drain((e) => (e ? reject(e) : resolve()));
      });
    });
  }

  private sleepUntil(at: number): Promise<void> {
    const ms = at - performance.now();
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleepers.delete(t);
        resolve();
      }, ms);
      this.sleepers.set(t, resolve);
    });
  }
}
