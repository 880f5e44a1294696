// Noise HandshakeState (rev. 34 §5.3), generic over the patterns in noise-patterns.ts.
import { ProtocolError, asProtocolError } from '../errors.ts';
import { CipherState, TAG_LENGTH, cipherByName } from './noise-cipher.ts';
import { parseProtocolName, type HandshakePattern, type Token } from './noise-patterns.ts';
import { SymmetricState } from './noise-symmetric.ts';
import { X25519_KEY_LENGTH, dh, generateKeyPair, type RawKeyPair } from './x25519.ts';

/** Noise messages are at most 65535 bytes (§3). */
export const MAX_NOISE_MESSAGE = 65535;
export const PSK_LENGTH = 32;
const DHLEN = X25519_KEY_LENGTH;

export interface HandshakeOptions {
  /** e.g. "Noise_XX_25519_ChaChaPoly_SHA256". */
  protocolName: string;
  initiator: boolean;
  prologue?: Uint8Array;
  /** Local static key pair. */
  s?: RawKeyPair;
  /** Local ephemeral key pair: only tests inject one (for the published vectors). */
  e?: RawKeyPair;
  /** Remote static public key, when the pattern has it as a pre-message. */
  rs?: Uint8Array;
  /** Remote ephemeral public key, for patterns with an ephemeral pre-message. */
  re?: Uint8Array;
  /** Pre-shared keys (32 bytes each), consumed in order by the psk tokens. */
  psks?: Uint8Array[];
}

export interface TransportPair {
  send: CipherState;
  receive: CipherState;
}

export class HandshakeState {
  readonly protocolName: string;
  readonly initiator: boolean;
  private readonly pattern: HandshakePattern;
  private readonly ss: SymmetricState;
  private s: RawKeyPair | null;
  private e: RawKeyPair | null;
  private rs: Uint8Array | null;
  private re: Uint8Array | null;
  private readonly psks: Uint8Array[];
  private readonly pskMode: boolean;
  private index = 0;
  private failed = false;
  private transport: TransportPair | null = null;
  private finalHash: Uint8Array | null = null;

  constructor(opts: HandshakeOptions) {
    const proto = parseProtocolName(opts.protocolName);
    this.protocolName = proto.full;
    this.pattern = proto.pattern;
    this.initiator = opts.initiator;
    this.ss = new SymmetricState(proto.full, cipherByName(proto.cipher));
    this.s = opts.s ?? null;
    this.e = opts.e ?? null;
    this.rs = opts.rs ? Uint8Array.from(opts.rs) : null;
    this.re = opts.re ? Uint8Array.from(opts.re) : null;
    this.psks = (opts.psks ?? []).map((p) => {
      if (p.length !== PSK_LENGTH) throw new ProtocolError('INVALID_FIELD', 'psk must be 32 bytes');
      return Uint8Array.from(p);
    });
    const allTokens = this.pattern.messages.flat();
    this.pskMode = allTokens.includes('psk');
    const pskCount = allTokens.filter((t) => t === 'psk').length;
    if (this.psks.length !== pskCount) {
      throw new ProtocolError('INVALID_FIELD', `pattern needs ${pskCount} psk(s)`, 'psks');
    }

    this.ss.mixHash(opts.prologue ?? new Uint8Array(0));
    // Pre-messages: the initiator's keys are hashed first, then the responder's.
    this.mixPreMessage(this.pattern.preInitiator, this.initiator);
    this.mixPreMessage(this.pattern.preResponder, !this.initiator);
  }

  private mixPreMessage(tokens: readonly Token[], local: boolean): void {
    for (const t of tokens) {
      let key: Uint8Array | null;
      if (t === 's') key = local ? (this.s?.publicKey ?? null) : this.rs;
      else if (t === 'e') key = local ? (this.e?.publicKey ?? null) : this.re;
      else throw new ProtocolError('UNSUPPORTED', `token ${t} in a pre-message`);
      if (!key) {
        throw new ProtocolError(
          'INVALID_FIELD',
          `pre-message needs the ${local ? 'local' : 'remote'} ${t} key`,
          t,
        );
      }
      this.ss.mixHash(key);
      if (t === 'e' && this.pskMode) this.ss.mixKey(key);
    }
  }

  get isComplete(): boolean {
    return this.transport !== null;
  }

  /** True when the next handshake message is ours to write. */
  get isMyTurn(): boolean {
    return !this.isComplete && this.index % 2 === (this.initiator ? 0 : 1);
  }

  /** h: after completion, the final handshake hash (channel binding, pairing code). */
  handshakeHash(): Uint8Array {
    return this.finalHash ? this.finalHash.slice() : this.ss.handshakeHash();
  }

  get remoteStatic(): Uint8Array | null {
    return this.rs ? this.rs.slice() : null;
  }

  /** The transport CipherStates (initiator sends with c1, responder with c2). */
  transportStates(): TransportPair {
    if (!this.transport) throw new ProtocolError('NO_SESSION', 'handshake not complete');
    return this.transport;
  }

  private checkUsable(writing: boolean): readonly Token[] {
    if (this.failed) throw new ProtocolError('HANDSHAKE_FAILED', 'handshake already failed');
    if (this.isComplete) throw new ProtocolError('HANDSHAKE_FAILED', 'handshake already complete');
    if (this.isMyTurn !== writing) {
      throw new ProtocolError('HANDSHAKE_FAILED', `not our turn to ${writing ? 'write' : 'read'}`);
    }
    return this.pattern.messages[this.index];
  }

  private dhToken(t: 'ee' | 'es' | 'se' | 'ss'): Uint8Array {
    // es = DH(initiator e, responder s); se = DH(initiator s, responder e).
    const localFirst = t[0] === 'e' ? this.e : this.s;
    const localSecond = t[1] === 'e' ? this.e : this.s;
    const remoteFirst = t[0] === 'e' ? this.re : this.rs;
    const remoteSecond = t[1] === 'e' ? this.re : this.rs;
    const [mine, theirs] = this.initiator ? [localFirst, remoteSecond] : [localSecond, remoteFirst];
    if (!mine || !theirs) throw new ProtocolError('HANDSHAKE_FAILED', `missing key for ${t}`);
    return dh(mine.privateKey, theirs);
  }

  private nextPsk(): Uint8Array {
    const psk = this.psks.shift();
    if (!psk) throw new ProtocolError('HANDSHAKE_FAILED', 'psk missing');
    return psk;
  }

  writeMessage(payload: Uint8Array = new Uint8Array(0)): Uint8Array {
    const tokens = this.checkUsable(true);
    try {
      const out: Uint8Array[] = [];
      for (const t of tokens) {
        switch (t) {
          case 'e': {
            if (!this.e) this.e = generateKeyPair();
            out.push(this.e.publicKey);
            this.ss.mixHash(this.e.publicKey);
            if (this.pskMode) this.ss.mixKey(this.e.publicKey);
            break;
          }
          case 's': {
            if (!this.s) throw new ProtocolError('HANDSHAKE_FAILED', 'no local static key');
            out.push(this.ss.encryptAndHash(this.s.publicKey));
            break;
          }
          case 'psk':
            this.ss.mixKeyAndHash(this.nextPsk());
            break;
          default:
            this.ss.mixKey(this.dhToken(t));
        }
      }
      out.push(this.ss.encryptAndHash(payload));
      // A plain Uint8Array of its own (Buffer.concat may hand out a slice of a shared pool).
      const msg = new Uint8Array(Buffer.concat(out));
      if (msg.length > MAX_NOISE_MESSAGE) {
        throw new ProtocolError('TOO_LARGE', 'Noise message over 65535 bytes');
      }
      this.advance();
      return msg;
    } catch (e) {
      this.failed = true;
      throw asProtocolError(e, 'HANDSHAKE_FAILED');
    }
  }

  readMessage(message: Uint8Array): Uint8Array {
    const tokens = this.checkUsable(false);
    if (message.length > MAX_NOISE_MESSAGE) {
      this.failed = true;
      throw new ProtocolError('TOO_LARGE', 'Noise message over 65535 bytes');
    }
    try {
      let off = 0;
      const take = (n: number): Uint8Array => {
        if (off + n > message.length) {
          throw new ProtocolError('MALFORMED', 'handshake message too short');
        }
        const part = message.subarray(off, off + n);
        off += n;
        return part;
      };
      for (const t of tokens) {
        switch (t) {
          case 'e': {
            this.re = Uint8Array.from(take(DHLEN));
            this.ss.mixHash(this.re);
            if (this.pskMode) this.ss.mixKey(this.re);
            break;
          }
          case 's': {
            const len = DHLEN + (this.ss.cs.hasKey() ? TAG_LENGTH : 0);
            this.rs = this.ss.decryptAndHash(take(len));
            break;
          }
          case 'psk':
            this.ss.mixKeyAndHash(this.nextPsk());
            break;
          default:
            this.ss.mixKey(this.dhToken(t));
        }
      }
      const rest = message.subarray(off);
      if (this.ss.cs.hasKey() && rest.length < TAG_LENGTH) {
        throw new ProtocolError('MALFORMED', 'handshake message too short');
      }
      const payload = this.ss.decryptAndHash(rest);
      this.advance();
      return payload;
    } catch (e) {
      // Noise §5.3: a failed handshake message aborts the handshake.
      this.failed = true;
      const pe = asProtocolError(e, 'HANDSHAKE_FAILED');
      if (pe.code === 'DECRYPT_FAILED') {
        throw new ProtocolError('HANDSHAKE_FAILED', 'handshake message failed authentication');
      }
      throw pe;
    }
  }

  private advance(): void {
    this.index += 1;
    if (this.index === this.pattern.messages.length) {
      this.finalHash = this.ss.handshakeHash();
      const [c1, c2] = this.ss.split();
      this.transport = this.initiator ? { send: c1, receive: c2 } : { send: c2, receive: c1 };
      // The ephemeral private key is no longer needed: drop the reference (forward secrecy).
      this.e = null;
    }
  }
}

