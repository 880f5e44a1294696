// RS485 link driver (device side): Modbus RTU slave on one serial port, serving one or more
// device instances (slave addresses) that share the bus. Every instance hears every frame, as
// on a real bus; only the addressed one answers; broadcast (0) is never answered.
//
// Frames: protocol/framing/modbus-transfer.ts (user function 0x41, fragmented protocol messages)
// and modbus-registers.ts (function 0x04 status registers, so `mbpoll` can read them). Bad CRC
// and garbage are dropped silently and counted (each instance on the bus counts what it heard);
// the receiver keeps going with the next good frame.
//
// Latency: the slave answers the final request fragment with the response itself when the
// handler finishes within `answerHoldMs`, instead of PENDING and a later poll; the master's
// response timeout includes that allowance (host-bridge/transports/rs485-bus.ts).

import { EventEmitter } from 'node:events';
import type { SerialPort } from 'serialport';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import { RTU_MAX_ADDRESS, RTU_MIN_ADDRESS, type RtuAdu } from '../../protocol/framing/modbus-rtu.ts';
import { encodeStatusRegisters } from '../../protocol/framing/modbus-registers.ts';
import {
  FC_PRECHECK_TRANSFER,
  RtuSlaveTransfer,
  TRANSFER_DEFAULT_MAX_MESSAGE,
} from '../../protocol/framing/modbus-transfer.ts';
import { PacedSerialWriter } from '../../link-io/paced-serial-writer.ts';
import { RtuStreamReceiver, type RtuRole } from '../../link-io/rtu-stream-receiver.ts';
import { closeSerialPort, isEmulatedSerialPath, openSerialLine, type Rs485LineOptions } from '../../link-io/serial-port.ts';
import { DriverConnection, nextDriverTag } from './connection.ts';
import type { LinkConnection, LinkDriver, MessageHandler, RejectedFrame, StatusProvider } from './types.ts';

/** One device instance on the bus. Unset callbacks fall back to the driver-level ones. */
export interface Rs485SlaveUnit {
  address: number;
  handler?: MessageHandler;
  statusProvider?: StatusProvider;
  onRejectedFrame?: (info: RejectedFrame) => void;
}

export interface Rs485SlaveDriverOptions {
  path: string;
  baud: number;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  /** Stated for the record; serialport cannot apply them (see link-io/serial-port.ts). */
  rs485?: Rs485LineOptions;
  addresses: (number | Rs485SlaveUnit)[];
  handler?: MessageHandler;
  statusProvider?: StatusProvider;
  onRejectedFrame?: (info: RejectedFrame) => void;
  /** Pace writes to the baud rate. Default: true on a pty (/dev/pts/N), false on a real UART. */
  paced?: boolean;
  /** How long an answer may wait for the handler before saying PENDING (ms, default 20). */
  answerHoldMs?: number;
  /** Largest request message (default 7609). */
  maxMessageSize?: number;
}

export interface Rs485Connection extends LinkConnection {
  readonly address: number;
}

interface Unit {
  address: number;
  transfer: RtuSlaveTransfer;
  conn: DriverConnection & { address: number };
  handler: MessageHandler;
  statusProvider?: StatusProvider;
  onRejectedFrame?: (info: RejectedFrame) => void;
  /** The handler run for the request being processed, if any. */
  running: Promise<void> | null;
}

export interface Rs485SlaveStats {
  framesIn: number;
  framesOut: number;
  rejected: number;
  ignored: number;
}

/**
 * Events: 'frame' ({ address, functionCode, answered }) after each good frame is served or
 * ignored, 'rejected' (RejectedFrame), 'error' (port failure after start), 'close'.
 */
export class Rs485SlaveDriver extends EventEmitter implements LinkDriver {
  readonly link = 'rs485' as const;
  readonly stats: Rs485SlaveStats = { framesIn: 0, framesOut: 0, rejected: 0, ignored: 0 };
  private readonly units = new Map<number, Unit>();
  private port: SerialPort | null = null;
  private writer: PacedSerialWriter | null = null;
  private receiver: RtuStreamReceiver | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closing = false;
  private readonly answerHoldMs: number;

  constructor(private readonly opts: Rs485SlaveDriverOptions) {
    super();
    this.answerHoldMs = opts.answerHoldMs ?? 20;
    if (opts.addresses.length === 0) throw new ProtocolError('INVALID_FIELD', 'Rs485SlaveDriver needs at least one address');
    const tag = nextDriverTag('rs485');
    for (const a of opts.addresses) {
      const u: Rs485SlaveUnit = typeof a === 'number' ? { address: a } : a;
      if (!Number.isInteger(u.address) || u.address < RTU_MIN_ADDRESS || u.address > RTU_MAX_ADDRESS) {
        throw new ProtocolError('INVALID_FIELD', 'RS485 slave address must be 1..247', String(u.address));
      }
      if (this.units.has(u.address)) throw new ProtocolError('INVALID_FIELD', 'duplicate RS485 slave address', String(u.address));
      const handler = u.handler ?? opts.handler;
      if (!handler) throw new ProtocolError('INVALID_FIELD', `no handler for RS485 address ${u.address}`);
      const statusProvider = u.statusProvider ?? opts.statusProvider;
      const conn = Object.assign(new DriverConnection(`${tag}:${opts.path}:addr=${u.address}`, 'rs485'), { address: u.address });
      const unit: Unit = {
        address: u.address,
        conn,
        handler,
        statusProvider,
        onRejectedFrame: u.onRejectedFrame ?? opts.onRejectedFrame,
        running: null,
        transfer: undefined as unknown as RtuSlaveTransfer,
      };
      unit.transfer = new RtuSlaveTransfer({
        address: u.address,
        maxMessageSize: opts.maxMessageSize ?? TRANSFER_DEFAULT_MAX_MESSAGE,
        inputRegisters: statusProvider ? () => encodeStatusRegisters(statusProvider()) : undefined,
        onRequest: (message, tid) => this.startHandler(unit, message, tid),
      });
      this.units.set(u.address, unit);
    }
  }

  /** Bytes and frames this slave has put on the line (for benchmarks and diagnostics). */
  get wire(): { bytes: number; frames: number } {
    return { bytes: this.writer?.stats.bytes ?? 0, frames: this.writer?.stats.frames ?? 0 };
  }

  get addresses(): number[] {
    return [...this.units.keys()];
  }

  async start(): Promise<void> {
    if (this.port) return;
    const line = await openSerialLine(this.opts);
    this.port = line.port;
    const paced = this.opts.paced ?? isEmulatedSerialPath(this.opts.path);
    this.writer = new PacedSerialWriter(line.port, { baud: this.opts.baud, bitsPerChar: line.bitsPerChar, paced });
    const role: RtuRole = 'slave';
    this.receiver = new RtuStreamReceiver({
      baud: this.opts.baud,
      bitsPerChar: line.bitsPerChar,
      role,
      cutOnCrc: paced,
      onFrame: (adu) => this.enqueue(adu),
      onReject: (error, bytes) => this.rejectFrame(error, bytes, undefined),
    });
    line.port.on('data', (chunk: Buffer) => this.receiver?.push(chunk));
    line.port.on('error', (err) => {
      if (!this.closing) this.emit('error', asProtocolError(err, 'DISCONNECTED'));
    });
    line.port.on('close', () => {
      if (!this.closing) void this.close();
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.receiver?.close();
    this.writer?.close();
    for (const u of this.units.values()) {
      u.transfer.reset();
      u.conn.close();
    }
    if (this.port) await closeSerialPort(this.port);
    this.port = null;
    this.emit('close');
  }

  private enqueue(adu: RtuAdu): void {
    this.chain = this.chain.then(() => this.serve(adu)).catch((e) => {
      if (!this.closing) this.emit('error', asProtocolError(e));
    });
  }

  /** Every instance hears every frame; only the addressed one may answer. */
  private async serve(adu: RtuAdu): Promise<void> {
    if (this.closing) return;
    this.stats.framesIn++;
    const unit = this.units.get(adu.address);
    if (!unit) {
      this.stats.ignored++; // broadcast or another slave's frame: silent
      this.emit('frame', { address: adu.address, functionCode: adu.functionCode, answered: false });
      return;
    }
    const before = unit.transfer.stats.rejected;
    let reply = unit.transfer.handle(adu);
    if (reply && adu.functionCode === FC_PRECHECK_TRANSFER && unit.running) {
      // The handler is working: give it answerHoldMs, then answer again (idempotent for the
      // final fragment and for GET), so a quick handler costs no PENDING/poll round trip.
      await withHold(unit.running, this.answerHoldMs);
      if (this.closing) return;
      reply = unit.transfer.handle(adu);
    }
    const rejectedNow = unit.transfer.stats.rejected - before;
    if (rejectedNow > 0) {
      this.rejectFrame(new ProtocolError('BAD_FRAME', 'RTU request refused (exception or transfer error)'), adu.data.length + 4, unit);
    }
    if (reply && this.writer) {
      await this.writer.write(reply);
      this.stats.framesOut++;
    }
    this.emit('frame', { address: adu.address, functionCode: adu.functionCode, answered: reply !== null });
  }

  private startHandler(unit: Unit, message: Uint8Array, tid: number): void {
    const self: { run?: Promise<void> } = {};
    self.run = (async () => {
      try {
        const answer = await unit.handler(message, unit.conn);
        if (!(answer instanceof Uint8Array)) throw new ProtocolError('INTERNAL', 'handler returned no bytes');
        try {
          unit.transfer.respond(answer, tid);
        } catch (e) {
          unit.transfer.fail(asProtocolError(e).code, tid);
        }
      } catch (e) {
        unit.transfer.fail(asProtocolError(e).code, tid);
      } finally {
        if (unit.running === self.run) unit.running = null;
      }
    })();
    unit.running = self.run;
  }

  /** Count a dropped frame: for one instance, or for every instance on the bus (they all heard it). */
  private rejectFrame(error: ProtocolError, bytes: number, unit: Unit | undefined): void {
    this.stats.rejected++;
    const info: RejectedFrame = { link: 'rs485', error, bytes };
    const targets = unit ? [unit] : [...this.units.values()];
    for (const u of targets) {
      // A driver-level callback shared by all instances is called once per instance that heard it.
      if (u.onRejectedFrame) {
        try {
          u.onRejectedFrame(info);
        } catch {
          // counting must never break the link
        }
      }
    }
    this.emit('rejected', info);
  }
}

function withHold(p: Promise<void>, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]).finally(() => clearTimeout(t));
}
