// Environment errors of the link layer: the OS lacks the radio, the HID library or the port.
// They are not protocol errors (nothing was said on a wire), so they carry their own catalogue
// codes (errors/catalogue.ts: exit 3, "service/device could not be reached").
//
// Shared by device/links and host-bridge/transports (link-io/ holds link I/O primitives that
// depend only on node, protocol/ and errors/).
import { PrecheckError } from '../errors/precheck-error.ts';

export type LinkUnavailableCode = 'BLUETOOTH_UNAVAILABLE' | 'HID_UNAVAILABLE' | 'SERIAL_UNAVAILABLE' | 'SOCKET_UNAVAILABLE';

export class LinkUnavailableError extends PrecheckError<LinkUnavailableCode> {
  /** The underlying OS/library error code when there is one (e.g. EAFNOSUPPORT). */
  override readonly cause?: unknown;
  constructor(code: LinkUnavailableCode, message: string, cause?: unknown) {
    super(code, message);
    this.name = 'LinkUnavailableError';
    this.cause = cause;
  }
}

export function isLinkUnavailable(e: unknown, code?: LinkUnavailableCode): e is LinkUnavailableError {
  return e instanceof LinkUnavailableError && (code === undefined || e.code === code);
}

/** "EAFNOSUPPORT, Address family not supported" → short reason for the message. */
export function describeCause(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { code?: unknown; message?: unknown };
    const code = typeof o.code === 'string' ? o.code : undefined;
    const msg = typeof o.message === 'string' ? o.message : String(e);
    return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(e);
}
