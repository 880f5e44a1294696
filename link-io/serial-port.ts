// Opening a serial port for Modbus RTU, shared by the device's slave driver and the bridge's
// master. 8N1 by default (10 bit-times per character: the pacing and timeouts use it).
//
// RS485 direction control: `serialport` 13 exposes no RS485 settings at all (no TIOCSRS485 /
// struct serial_rs485 on Linux), so the driver-enable line cannot be driven from here. It must
// come from the kernel's RS485 mode (device tree `linux,rs485-enabled-at-boot-time`,
// `rs485-rts-delay`, `rs485-rts-active-low`, on UARTs whose driver supports it) or from an
// auto-direction transceiver (most USB-RS485 adapters: FTDI/CH340 boards drive DE themselves).
// `rs485` options are accepted so a configuration can state them, and reported back as not
// applied.

import { SerialPort } from 'serialport';
import { LinkUnavailableError, describeCause } from './link-errors.ts';

/** Linux `struct serial_rs485` settings, for documentation and future bindings. */
export interface Rs485LineOptions {
  enabled?: boolean;
  rtsOnSend?: boolean;
  rtsAfterSend?: boolean;
  delayRtsBeforeSendMs?: number;
  delayRtsAfterSendMs?: number;
  rxDuringTx?: boolean;
}

export interface SerialLineOptions {
  path: string;
  baud: number;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  rs485?: Rs485LineOptions;
}

export interface OpenedSerialLine {
  port: SerialPort;
  /** Bit-times per character for the timing maths: 10 for 8N1, 11 with parity or 2 stop bits. */
  bitsPerChar: number;
  /** Always false with serialport 13 (see the header comment). */
  rs485Applied: boolean;
}

/** Emulated lines (socat ptys) ignore the baud rate, so their writers must pace themselves. */
export function isEmulatedSerialPath(path: string): boolean {
  return path.startsWith('/dev/pts/') || path.startsWith('/dev/ptmx');
}

export async function openSerialLine(opts: SerialLineOptions): Promise<OpenedSerialLine> {
  if (!Number.isInteger(opts.baud) || opts.baud < 300 || opts.baud > 4_000_000) {
    throw new LinkUnavailableError('SERIAL_UNAVAILABLE', `unsupported baud rate ${opts.baud}`);
  }
  const parity = opts.parity ?? 'none';
  const stopBits = opts.stopBits ?? 1;
  const port = new SerialPort({ path: opts.path, baudRate: opts.baud, dataBits: 8, parity, stopBits, autoOpen: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => {
      if (err) reject(new LinkUnavailableError('SERIAL_UNAVAILABLE', `cannot open ${opts.path}: ${describeCause(err)}`, err));
      else resolve();
    });
  });
  const bitsPerChar = 10 + (parity !== 'none' ? 1 : 0) + (stopBits === 2 ? 1 : 0);
  return { port, bitsPerChar, rs485Applied: false };
}

/** Close, swallowing "port is not open" (it may have vanished). */
export function closeSerialPort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => {
    if (!port.isOpen) return resolve();
    port.close(() => resolve());
  });
}
