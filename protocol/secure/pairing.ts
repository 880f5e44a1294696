// Pairing roles (Noise XX), pure: they turn received bytes into bytes to send, no I/O.
//
//   host  PairingInitiator.init()           -> msg1 (PAIR_INIT)
//   device PairingResponder.respond(msg1)   -> msg2 (PAIR_RESP), carries the device's static key
//   host  PairingInitiator.finish(msg2)     -> msg3 (PAIR_FINISH), carries the host's static key
//   device PairingResponder.complete(msg3)  -> result
//
// Both results carry the same handshake hash and hence the same six-digit code, which the
// users compare before either side stores the peer's key (PAIR_CONFIRM / PAIR_POLL).
import { ProtocolError } from '../errors.ts';
import { HandshakeState } from './noise-handshake.ts';
import {
  PAIRING_PROTOCOL,
  PRECHECK_PROLOGUE,
  SecureChannel,
  pairingCode,
  type StaticKeyPair,
} from './channel.ts';

export interface PairingResult {
  /** The peer's static public key (32 bytes): what gets pinned once the code is confirmed. */
  remoteStatic: Uint8Array;
  handshakeHash: Uint8Array;
  /** Six decimal digits, identical on both sides of an unattacked handshake. */
  code: string;
  channel: SecureChannel;
  /** The payload the peer put in its last handshake message (encrypted in XX msg2/msg3). */
  remotePayload: Uint8Array;
}

export interface PairingOptions {
  staticKeyPair: StaticKeyPair;
  /** Tests only: a fixed ephemeral key pair. */
  ephemeralKeyPair?: StaticKeyPair;
}

function resultOf(hs: HandshakeState, remotePayload: Uint8Array): PairingResult {
  const rs = hs.remoteStatic;
  if (!rs) throw new ProtocolError('HANDSHAKE_FAILED', 'peer static key missing');
  const h = hs.handshakeHash();
  return {
    remoteStatic: rs,
    handshakeHash: h,
    code: pairingCode(h),
    channel: new SecureChannel(hs.transportStates(), h, rs),
    remotePayload,
  };
}

function newHandshake(initiator: boolean, opts: PairingOptions): HandshakeState {
  return new HandshakeState({
    protocolName: PAIRING_PROTOCOL,
    initiator,
    prologue: PRECHECK_PROLOGUE,
    s: opts.staticKeyPair,
    e: opts.ephemeralKeyPair,
  });
}

/** Host side of pairing. */
export class PairingInitiator {
  private readonly hs: HandshakeState;
  private done: PairingResult | null = null;

  constructor(opts: PairingOptions) {
    this.hs = newHandshake(true, opts);
  }

  /** XX msg1 (`-> e`): its payload would travel in clear, so it carries none. */
  init(): Uint8Array {
    return this.hs.writeMessage();
  }

  /**
   * Reads msg2 (the device's identity) and returns msg3. `payload` (e.g. the host's name) is
   * encrypted. The result is then available as `.result`.
   */
  finish(msg2: Uint8Array, payload?: Uint8Array): Uint8Array {
    const devicePayload = this.hs.readMessage(msg2);
    const msg3 = this.hs.writeMessage(payload);
    this.done = resultOf(this.hs, devicePayload);
    return msg3;
  }

  get result(): PairingResult {
    if (!this.done) throw new ProtocolError('NO_SESSION', 'pairing handshake not finished');
    return this.done;
  }
}

/** Device side of pairing. */
export class PairingResponder {
  private readonly hs: HandshakeState;
  private done: PairingResult | null = null;

  constructor(opts: PairingOptions) {
    this.hs = newHandshake(false, opts);
  }

  /** Reads msg1, returns msg2. `payload` (e.g. device model and serial) is encrypted. */
  respond(msg1: Uint8Array, payload?: Uint8Array): Uint8Array {
    const clear = this.hs.readMessage(msg1);
    if (clear.length !== 0) {
      throw new ProtocolError('HANDSHAKE_FAILED', 'pairing msg1 must carry no payload');
    }
    return this.hs.writeMessage(payload);
  }

  /** Reads msg3 and returns the result (also kept as `.result`). */
  complete(msg3: Uint8Array): PairingResult {
    const hostPayload = this.hs.readMessage(msg3);
    this.done = resultOf(this.hs, hostPayload);
    return this.done;
  }

  get result(): PairingResult {
    if (!this.done) throw new ProtocolError('NO_SESSION', 'pairing handshake not finished');
    return this.done;
  }
}
