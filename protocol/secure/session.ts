// Session roles (Noise KK), pure: no I/O.
//
//   host   SessionInitiator.init()       -> SESSION_INIT bytes = hint(8) || KK msg1
//   device SessionResponder.respond(m)   -> SESSION_RESP bytes = KK msg2
//   host   SessionInitiator.finish(m)    -> result
//
// KK needs the initiator's static key *before* msg1 is read, and a device may have several
// paired hosts. The host therefore prefixes msg1 with a hint, the first 8 bytes of
// SHA-256("precheck/host-hint/v1" || host static public key); the device keeps no hint table,
// it hashes its (at most a few) paired keys and tries each whose hint matches. The hint is a
// stable identifier of the host visible on the link; a static public key is not secret and
// pairing already exposes it, so this costs little, and it saves up to N failed handshakes.
import crypto from 'node:crypto';
import { ProtocolError } from '../errors.ts';
import { HandshakeState } from './noise-handshake.ts';
import {
  PRECHECK_PROLOGUE,
  SESSION_PROTOCOL,
  SecureChannel,
  type StaticKeyPair,
} from './channel.ts';

export const HOST_HINT_LENGTH = 8;
const HINT_LABEL = new TextEncoder().encode('precheck/host-hint/v1');

/** The 8-byte hint that tells a device which paired host is opening a session. */
export function hostHint(hostStatic: Uint8Array): Uint8Array {
  const d = crypto.createHash('sha256').update(HINT_LABEL).update(hostStatic).digest();
  return new Uint8Array(d.subarray(0, HOST_HINT_LENGTH));
}

export interface SessionResult {
  remoteStatic: Uint8Array;
  handshakeHash: Uint8Array;
  channel: SecureChannel;
  /** The peer's handshake payload (encrypted in both KK messages). */
  remotePayload: Uint8Array;
}

function resultOf(hs: HandshakeState, remotePayload: Uint8Array): SessionResult {
  const h = hs.handshakeHash();
  const rs = hs.remoteStatic!;
  return {
    remoteStatic: rs,
    handshakeHash: h,
    channel: new SecureChannel(hs.transportStates(), h, rs),
    remotePayload,
  };
}

export interface SessionInitiatorOptions {
  staticKeyPair: StaticKeyPair;
  /** The device's static key pinned at pairing. */
  deviceStatic: Uint8Array;
  /** Tests only. */
  ephemeralKeyPair?: StaticKeyPair;
}

/** Host side of a session. */
export class SessionInitiator {
  private readonly hs: HandshakeState;
  private readonly hint: Uint8Array;
  private done: SessionResult | null = null;

  constructor(opts: SessionInitiatorOptions) {
    this.hs = new HandshakeState({
      protocolName: SESSION_PROTOCOL,
      initiator: true,
      prologue: PRECHECK_PROLOGUE,
      s: opts.staticKeyPair,
      e: opts.ephemeralKeyPair,
      rs: opts.deviceStatic,
    });
    this.hint = hostHint(opts.staticKeyPair.publicKey);
  }

  /** SESSION_INIT bytes: hint || KK msg1 (payload encrypted to the pinned device key). */
  init(payload?: Uint8Array): Uint8Array {
    const msg1 = this.hs.writeMessage(payload);
    const out = new Uint8Array(HOST_HINT_LENGTH + msg1.length);
    out.set(this.hint, 0);
    out.set(msg1, HOST_HINT_LENGTH);
    return out;
  }

  /**
   * Reads SESSION_RESP. A reply that fails authentication means the peer does not hold the
   * device key this host pinned: IDENTITY_MISMATCH. (A genuine device that cannot read msg1
   * answers with an ERROR HANDSHAKE_FAILED instead; the bridge maps that to the same meaning.)
   */
  finish(msg2: Uint8Array): SessionResult {
    let payload: Uint8Array;
    try {
      payload = this.hs.readMessage(msg2);
    } catch (e) {
      if (e instanceof ProtocolError && e.code === 'HANDSHAKE_FAILED') {
        throw new ProtocolError(
          'IDENTITY_MISMATCH',
          'device did not prove the static key pinned at pairing',
        );
      }
      throw e;
    }
    this.done = resultOf(this.hs, payload);
    return this.done;
  }

  get result(): SessionResult {
    if (!this.done) throw new ProtocolError('NO_SESSION', 'session handshake not finished');
    return this.done;
  }
}

export interface SessionResponderOptions {
  staticKeyPair: StaticKeyPair;
  /** The device's paired host static keys (a short list, about 8 at most). */
  pairedHosts: () => Iterable<Uint8Array>;
  /** Tests only. */
  ephemeralKeyPair?: StaticKeyPair;
}

/** Device side of a session. */
export class SessionResponder {
  private readonly opts: SessionResponderOptions;
  private hs: HandshakeState | null = null;
  private done: SessionResult | null = null;

  constructor(opts: SessionResponderOptions) {
    this.opts = opts;
  }

  /**
   * Reads SESSION_INIT and returns SESSION_RESP (`payload` is encrypted). NOT_PAIRED when no
   * paired host matches the hint; HANDSHAKE_FAILED when one matches but msg1 does not
   * authenticate (the host pinned another device key, or the message is forged).
   */
  respond(sessionInit: Uint8Array, payload?: Uint8Array): Uint8Array {
    if (this.hs) throw new ProtocolError('HANDSHAKE_FAILED', 'session responder already used');
    if (sessionInit.length < HOST_HINT_LENGTH + 32) {
      throw new ProtocolError('MALFORMED', 'SESSION_INIT too short');
    }
    const hint = sessionInit.subarray(0, HOST_HINT_LENGTH);
    const msg1 = sessionInit.subarray(HOST_HINT_LENGTH);
    const candidates = [...this.opts.pairedHosts()].filter((k) =>
      crypto.timingSafeEqual(hostHint(k), hint),
    );
    if (candidates.length === 0) {
      throw new ProtocolError('NOT_PAIRED', 'host is not paired with this device');
    }
    let lastError: unknown = null;
    for (const hostStatic of candidates) {
      const hs = new HandshakeState({
        protocolName: SESSION_PROTOCOL,
        initiator: false,
        prologue: PRECHECK_PROLOGUE,
        s: this.opts.staticKeyPair,
        e: this.opts.ephemeralKeyPair,
        rs: hostStatic,
      });
      let hostPayload: Uint8Array;
      try {
        hostPayload = hs.readMessage(msg1);
      } catch (e) {
        lastError = e;
        continue;
      }
      this.hs = hs;
      const msg2 = hs.writeMessage(payload);
      this.done = resultOf(hs, hostPayload);
      return msg2;
    }
    if (lastError instanceof ProtocolError && lastError.code !== 'HANDSHAKE_FAILED') {
      throw lastError;
    }
    throw new ProtocolError(
      'HANDSHAKE_FAILED',
      'SESSION_INIT failed authentication (host pinned a different device key, or forged)',
    );
  }

  get result(): SessionResult {
    if (!this.done) throw new ProtocolError('NO_SESSION', 'session handshake not finished');
    return this.done;
  }
}
