// RS485 bus (host side): one serial port as the Modbus RTU master for every device on it.
//
// - One ADU on the bus at a time, across all addresses (half duplex: a second request would
//   collide with the first answer). Message exchanges to different addresses interleave at the
//   ADU level, so a device that is still working (PENDING) does not hold the bus.
// - One message exchange at a time per device (bus.device(a).request() queues).
// - Response timeout per ADU, from the baud rate: (request bytes + the longest answer, 256
//   bytes) × bits per char / baud + 2 × t3.5 + a processing allowance (default 100 ms, which
//   covers the slave's 20 ms answer hold and scheduling). On timeout the same ADU is resent (the
//   slave answers repeats idempotently, and a late answer to an earlier try is still taken):
//   within a message exchange until the exchange's idle timeout; for register reads and scans
//   `retries` times (default 2), then TIMEOUT.
// - The exchange's own idle timeout (RequestOptions.timeoutMs) is extended by every answer,
//   PENDING included: that is RS485's keepalive.
// - The port closing under us (USB adapter unplugged) fails everything with DISCONNECTED.
// Pacing: on a pty the master paces its writes to the baud rate (PacedSerialWriter).

import { EventEmitter } from 'node:events';
import type { SerialPort } from 'serialport';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import {
  RTU_MAX_ADU,
  RTU_MAX_ADDRESS,
  RTU_MIN_ADDRESS,
  encodeAdu,
  exceptionCodeOf,
  exceptionToError,
  interFrameGapUs,
  isExceptionAdu,
  type RtuAdu,
} from '../../protocol/framing/modbus-rtu.ts';
import {
  FC_READ_INPUT_REGISTERS,
  STATUS_REGISTER_COUNT,
  decodeReadInputRegistersResponse,
  decodeStatusRegisters,
  encodeReadInputRegistersRequest,
  type DeviceStatusRegisters,
} from '../../protocol/framing/modbus-registers.ts';
import { RtuMasterTransfer, TRANSFER_DEFAULT_MAX_MESSAGE } from '../../protocol/framing/modbus-transfer.ts';
import { PacedSerialWriter } from '../../link-io/paced-serial-writer.ts';
import { RtuStreamReceiver } from '../../link-io/rtu-stream-receiver.ts';
import {
  closeSerialPort,
  isEmulatedSerialPath,
  openSerialLine,
  type Rs485LineOptions,
} from '../../link-io/serial-port.ts';
import {
  SerialQueue,
  checkBudget,
  checkTimeout,
  delay,
  disconnectedError,
  startExchange,
  type Exchange,
} from './exchange.ts';
import { DEFAULT_EXCHANGE_TIMEOUT_MS, type MessageTransport, type RequestOptions } from './types.ts';

export interface Rs485BusOptions {
  path: string;
  baud: number;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  /** Stated for the record: serialport cannot apply them (link-io/serial-port.ts). */
  rs485?: Rs485LineOptions;
  /** Pace writes to the baud rate. Default: true on a pty, false on a real UART. */
  paced?: boolean;
  /** Resends of an unanswered ADU before TIMEOUT (default 2). */
  retries?: number;
  /** Slave processing allowance added to each response timeout, ms (default 100). */
  processingAllowanceMs?: number;
  /** Pause before polling a device that answered PENDING, ms (default 2). */
  pollIntervalMs?: number;
  /** Largest message either way (default 7609). */
  maxMessageSize?: number;
}

export interface Rs485BusStats {
  requestsSent: number;
  retries: number;
  timeouts: number;
  framesIn: number;
  framesRejected: number;
  unexpectedFrames: number;
}

interface Waiter {
  address: number;
  accept: (adu: RtuAdu) => boolean;
  wake: () => void;
}

/** Events: 'disconnect' (ProtocolError), 'rejected' ({ error, bytes }). */
export class Rs485Bus extends EventEmitter {
  readonly stats: Rs485BusStats = { requestsSent: 0, retries: 0, timeouts: 0, framesIn: 0, framesRejected: 0, unexpectedFrames: 0 };
  readonly path: string;
  readonly baud: number;
  readonly maxMessageSize: number;
  private readonly devices = new Map<number, Rs485DeviceTransport>();
  private readonly busLock = new SerialQueue();
  private waiter: Waiter | null = null;
  private gone: ProtocolError | null = null;
  private closing = false;
  private readonly retries: number;
  private readonly allowanceMs: number;
  private readonly pollMs: number;
  private readonly gapMs: number;

  private constructor(
    private readonly port: SerialPort,
    private readonly writer: PacedSerialWriter,
    private readonly bitsPerChar: number,
    opts: Rs485BusOptions,
  ) {
    super();
    this.path = opts.path;
    this.baud = opts.baud;
    this.retries = opts.retries ?? 2;
    this.allowanceMs = opts.processingAllowanceMs ?? 100;
    this.pollMs = opts.pollIntervalMs ?? 2;
    this.maxMessageSize = opts.maxMessageSize ?? TRANSFER_DEFAULT_MAX_MESSAGE;
    this.gapMs = interFrameGapUs(opts.baud, bitsPerChar) / 1000;
  }

  static async open(opts: Rs485BusOptions): Promise<Rs485Bus> {
    const line = await openSerialLine(opts);
    const paced = opts.paced ?? isEmulatedSerialPath(opts.path);
    const writer = new PacedSerialWriter(line.port, { baud: opts.baud, bitsPerChar: line.bitsPerChar, paced });
    const bus = new Rs485Bus(line.port, writer, line.bitsPerChar, opts);
    const receiver = new RtuStreamReceiver({
      baud: opts.baud,
      bitsPerChar: line.bitsPerChar,
      role: 'master',
      cutOnCrc: paced,
      onFrame: (adu) => bus.onFrame(adu),
      onReject: (error, bytes) => {
        bus.stats.framesRejected++;
        bus.emit('rejected', { error, bytes });
      },
    });
    line.port.on('data', (chunk: Buffer) => receiver.push(chunk));
    line.port.on('close', () => {
      receiver.close();
      bus.markGone(disconnectedError(`RS485 bus ${opts.path}`));
    });
    line.port.on('error', (err) => bus.markGone(disconnectedError(`RS485 bus ${opts.path}`, err)));
    return bus;
  }

  /**
   * The transport for one slave address (one per address, cached). A cached one that was closed
   * (e.g. its device did not answer INFO) is replaced while the bus is up, so a later rescan can
   * attach the address again.
   */
  device(address: number): MessageTransport {
    checkAddress(address);
    let d = this.devices.get(address);
    if (!d || (d.isClosed && !this.gone)) {
      d = new Rs485DeviceTransport(this, address);
      this.devices.set(address, d);
    }
    return d;
  }

  /** ms to wait for the answer to an ADU of `requestBytes`. */
  responseTimeoutMs(requestBytes: number, responseBytes = RTU_MAX_ADU, allowanceMs = this.allowanceMs): number {
    const wireMs = ((requestBytes + responseBytes) * this.bitsPerChar * 1000) / this.baud;
    return Math.ceil(wireMs + 2 * this.gapMs + allowanceMs);
  }

  /** Function 0x04. Exceptions become ProtocolError (exceptionToError). */
  async readInputRegisters(
    address: number,
    start: number,
    quantity: number,
    opts: { retries?: number; allowanceMs?: number } = {},
  ): Promise<Uint16Array> {
    checkAddress(address);
    const req = encodeAdu({ address, functionCode: FC_READ_INPUT_REGISTERS, data: encodeReadInputRegistersRequest(start, quantity) });
    const adu = await this.transact(req, address, (a) => (a.functionCode & 0x7f) === FC_READ_INPUT_REGISTERS, {
      retries: opts.retries,
      responseBytes: 5 + 2 * quantity,
      allowanceMs: opts.allowanceMs,
    });
    if (isExceptionAdu(adu)) {
      const ex = exceptionCodeOf(adu);
      throw ex === undefined ? new ProtocolError('BAD_FRAME', 'malformed exception response') : exceptionToError(adu.functionCode, ex);
    }
    return decodeReadInputRegistersResponse(adu.data, quantity);
  }

  /** The device's status registers 0..9 (protocol/framing/modbus-registers.ts). */
  async readStatus(address: number): Promise<DeviceStatusRegisters> {
    return decodeStatusRegisters(await this.readInputRegisters(address, 0, STATUS_REGISTER_COUNT));
  }

  /**
   * Addresses that answer function 0x04 (an exception counts: something is there). One try per
   * address with a short processing allowance (`allowanceMs`, default 50 ms: a slave answers
   * 0x04 at once), so an empty 1..247 scan at 115200 baud takes about 247 × 57 ms ≈ 14 s.
   */
  async scan(
    range: Iterable<number> | { from: number; to: number } = { from: RTU_MIN_ADDRESS, to: RTU_MAX_ADDRESS },
    opts: { allowanceMs?: number } = {},
  ): Promise<number[]> {
    const list = Symbol.iterator in range ? [...range] : rangeOf(range.from, range.to);
    const found: number[] = [];
    for (const a of list) {
      checkAddress(a);
      try {
        await this.readInputRegisters(a, 0, 1, { retries: 0, allowanceMs: opts.allowanceMs ?? 50 });
        found.push(a);
      } catch (e) {
        const pe = asProtocolError(e);
        if (pe.code === 'DISCONNECTED') throw pe;
        if (pe.code !== 'TIMEOUT') found.push(a); // an exception answer: a device is there
      }
    }
    return found;
  }

  /**
   * Send a broadcast request (address 0). Slaves act on it but never answer; the bus is held
   * for the turnaround delay (the processing allowance) so the next request does not collide.
   */
  async broadcast(functionCode: number, data: Uint8Array): Promise<void> {
    const adu = encodeAdu({ address: 0, functionCode, data });
    await this.busLock.run(async () => {
      if (this.gone) throw this.gone;
      await this.writer.write(adu);
      await delay(this.allowanceMs);
    });
  }

  /**
   * Diagnostics and fault injection: put raw bytes on the line as one frame (paced like any
   * frame), between transactions. Nothing is expected back.
   */
  async writeRaw(bytes: Uint8Array): Promise<void> {
    await this.busLock.run(async () => {
      if (this.gone) throw this.gone;
      await this.writer.write(bytes);
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.markGone(new ProtocolError('DISCONNECTED', `RS485 bus ${this.path} closed`));
    this.writer.close();
    await closeSerialPort(this.port);
  }

  /** Bytes and frames this master has put on the line (for benchmarks and diagnostics). */
  get wire(): { bytes: number; frames: number } {
    return { bytes: this.writer.stats.bytes, frames: this.writer.stats.frames };
  }

  get disconnected(): ProtocolError | null {
    return this.gone;
  }

  /**
   * Send one ADU and return the first frame from `address` that `accept` takes, resending on
   * response timeout. Holds the bus for the whole transaction.
   * @internal used by Rs485DeviceTransport
   */
  transact(
    adu: Uint8Array,
    address: number,
    accept: (a: RtuAdu) => boolean,
    opts: { retries?: number; responseBytes?: number; signal?: AbortSignal; allowanceMs?: number } = {},
  ): Promise<RtuAdu> {
    return this.busLock.run(async () => {
      const timeoutMs = this.responseTimeoutMs(adu.length, opts.responseBytes, opts.allowanceMs);
      const tries = 1 + (opts.retries ?? this.retries);
      // One waiter for the whole transaction: a late answer to an earlier try still counts (the
      // slave answers repeats identically), so a slow slave is not mistaken for a silent one.
      let got: RtuAdu | undefined;
      const answered = new Promise<void>((wake) => {
        this.waiter = {
          address,
          accept: (a) => {
            if (!accept(a)) return false;
            got = a;
            return true;
          },
          wake,
        };
      });
      try {
        for (let attempt = 0; attempt < tries; attempt++) {
          if (this.gone) throw this.gone;
          if (opts.signal?.aborted) throw new ProtocolError('CANCELLED', 'exchange aborted');
          if (got) return got;
          if (attempt > 0) this.stats.retries++;
          this.stats.requestsSent++;
          try {
            await this.writer.write(adu);
          } catch (e) {
            throw asProtocolError(e, 'DISCONNECTED');
          }
          // Measured from delivery: the paced writer resolves when the frame is on the line.
          const outcome = await raceTimeout(answered, timeoutMs, opts.signal);
          if (this.gone) throw this.gone;
          if (outcome === 'ok' && got) return got;
          if (outcome === 'aborted') throw new ProtocolError('CANCELLED', 'exchange aborted');
          this.stats.timeouts++;
        }
        throw new ProtocolError('TIMEOUT', `no answer from RS485 address ${address} after ${tries} tries`, this.path);
      } finally {
        this.waiter = null;
      }
    });
  }

  /** @internal */
  get pollIntervalMs(): number {
    return this.pollMs;
  }

  private onFrame(adu: RtuAdu): void {
    this.stats.framesIn++;
    const w = this.waiter;
    if (w && adu.address === w.address && w.accept(adu)) {
      this.waiter = null;
      w.wake();
      return;
    }
    this.stats.unexpectedFrames++; // a late answer to a resent ADU, or another master's traffic
  }

  private markGone(err: ProtocolError): void {
    if (this.gone) return;
    this.gone = err;
    const w = this.waiter;
    this.waiter = null;
    w?.wake();
    for (const d of this.devices.values()) d.busGone(err);
    this.emit('disconnect', err);
  }
}

/** One slave address on a bus, as a MessageTransport. */
export class Rs485DeviceTransport extends EventEmitter implements MessageTransport {
  readonly link = 'rs485' as const;
  readonly address: string;
  readonly maxMessageSize: number;
  private readonly queue = new SerialQueue();
  private tid = Math.floor(Math.random() * 256);
  private current: Exchange<Uint8Array> | null = null;
  private closed: ProtocolError | null = null;

  constructor(
    private readonly bus: Rs485Bus,
    readonly slaveAddress: number,
  ) {
    super();
    this.address = `rs485:${bus.path}#${slaveAddress}`;
    this.maxMessageSize = bus.maxMessageSize;
  }

  request(msg: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const timeoutMs = checkTimeout(opts.timeoutMs, DEFAULT_EXCHANGE_TIMEOUT_MS);
    if (msg.length > this.maxMessageSize) {
      return Promise.reject(new ProtocolError('TOO_LARGE', `message over ${this.maxMessageSize} bytes`, String(msg.length)));
    }
    return this.queue.run(() => this.exchange(msg, timeoutMs, opts));
  }

  get isClosed(): boolean {
    return this.closed !== null;
  }

  async close(): Promise<void> {
    if (!this.closed) this.closed = new ProtocolError('DISCONNECTED', `${this.address} closed`);
    this.current?.reject(this.closed);
  }

  /** @internal */
  busGone(err: ProtocolError): void {
    this.current?.reject(err);
    if (!this.closed) {
      this.closed = err;
      this.emit('disconnect', err);
    }
  }

  private async exchange(msg: Uint8Array, timeoutMs: number, opts: RequestOptions): Promise<Uint8Array> {
    const gone = this.closed ?? this.bus.disconnected;
    if (gone) throw gone;
    const label = `RS485 exchange with ${this.address}`;
    checkBudget(opts.deadline, label);
    this.tid = (this.tid + 1) & 0xff;
    const t = new RtuMasterTransfer({
      address: this.slaveAddress,
      transferId: this.tid,
      message: msg,
      maxMessageSize: this.maxMessageSize,
    });
    const ex = startExchange<Uint8Array>({
      timeoutMs,
      deadline: opts.deadline,
      signal: opts.signal,
      label,
      onGiveUp: () => {
        // Tell the slave to drop the transfer; best effort, nobody waits for it.
        this.bus.transact(t.abortAdu(), this.slaveAddress, () => true, { retries: 0 }).catch(() => undefined);
      },
    });
    this.current = ex;
    void this.drive(t, ex);
    try {
      return await ex.promise;
    } finally {
      this.current = null;
    }
  }

  private async drive(t: RtuMasterTransfer, ex: Exchange<Uint8Array>): Promise<void> {
    let adu = t.current();
    try {
      for (;;) {
        let step: ReturnType<RtuMasterTransfer['receive']> | undefined;
        await this.bus.transact(
          adu,
          this.slaveAddress,
          (a) => {
            const s = t.receive(a);
            if (s.kind === 'ignore') return false; // stale answer: keep waiting
            step = s;
            return true;
          },
          // Resend until the exchange's idle timeout ends it: a slow slave is not a dead one.
          { signal: ex.signal, retries: Number.POSITIVE_INFINITY },
        );
        if (ex.settled || !step) return;
        ex.touch();
        switch (step.kind) {
          case 'done':
            return ex.resolve(step.message);
          case 'error':
            return ex.reject(step.error);
          case 'send':
            adu = step.adu;
            break;
          case 'poll':
            adu = step.adu;
            await delay(this.bus.pollIntervalMs, ex.signal);
            break;
        }
      }
    } catch (e) {
      ex.reject(asProtocolError(e));
    }
  }
}

function checkAddress(a: number): void {
  if (!Number.isInteger(a) || a < RTU_MIN_ADDRESS || a > RTU_MAX_ADDRESS) {
    throw new ProtocolError('INVALID_FIELD', 'RS485 slave address must be 1..247', String(a));
  }
}

function rangeOf(from: number, to: number): number[] {
  const out: number[] = [];
  for (let a = from; a <= to; a++) out.push(a);
  return out;
}

function raceTimeout(p: Promise<void>, ms: number, signal?: AbortSignal): Promise<'ok' | 'timeout' | 'aborted'> {
  return new Promise((resolve) => {
    const t = setTimeout(() => done('timeout'), ms);
    const onAbort = (): void => done('aborted');
    const done = (r: 'ok' | 'timeout' | 'aborted'): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    void p.then(() => done('ok'));
  });
}
