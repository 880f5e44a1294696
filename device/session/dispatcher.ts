// The device's session layer: one instance per device, one state per LinkConnection.
//
//   plaintext  INFO_REQ, STATUS_REQ                      -> answered to anyone
//   pairing    PAIR_INIT -> PAIR_RESP, PAIR_FINISH -> PAIR_STATUS(pending) + code to the device
//              user, PAIR_CONFIRM / PAIR_POLL -> PAIR_STATUS; the host key is stored only when
//              both users accepted (docs/protocol.md, "Pairing")
//   session    SESSION_INIT -> SESSION_RESP (Noise KK), then SECURE -> open -> inner message ->
//              core -> sealed SECURE_RES
//
// Every failure is answered with an ERROR carrying its code (inside the channel when it concerns
// an inner request) and counted as a rejected frame; nothing a peer sends stops the device from
// answering the next message.
//
// Transfers have one owner: the paired host (by static key, so a bridge that reconnects or comes
// back after a crash resumes its own transfer) whose SYNC_*/FW_* transfer is in progress. While
// that host was active within `transferIdleMs` (default 60 s), another host's BEGIN/CHUNK/COMMIT/
// ABORT is refused with BUSY saying so; once it went quiet that long, the next host takes over
// (its BEGIN resumes the same manifest or replaces the transfer). Two bridges syncing one device:
// one wins, the other is told clearly — at the device, whatever the bridges' lock files say.

import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import {
  DATASET_STATES,
  MessageDecodeError,
  PROTOCOL_VERSION,
  decodeInner,
  decodeMessage,
  encodeMessage,
  errorMessage,
  type InnerMessage,
  type Message,
  type PairState,
  type PlainMessage,
} from '../../protocol/messages/index.ts';
import {
  PairingResponder,
  SessionResponder,
  type SecureChannel,
} from '../../protocol/secure/index.ts';
import type { LinkConnection, MessageHandler, StatusRegisters } from '../links/types.ts';
import type { SessionCore } from './core-port.ts';

export const DEFAULT_MAX_PAIRED_HOSTS = 4;
/** Longest a pairing may wait for both users (device-side timeout). */
export const DEFAULT_PAIRING_TIMEOUT_MS = 120_000;

/** Asks the device-side user whether the code matches the host's. */
export type ConfirmPairing = (
  code: string,
  ctx: {
    connectionId: string;
    hostKey: Uint8Array;
    /** Aborted when the pairing ends without this answer (host refused, timeout, link closed). */
    signal: AbortSignal;
  },
) => Promise<boolean>;

export interface DispatcherOptions {
  core: SessionCore;
  confirmPairing: ConfirmPairing;
  maxPairedHosts?: number;
  pairingTimeoutMs?: number;
  /** One line per notable event (pairing outcome, session opened); never card data. */
  log?: (line: string) => void;
  /** Identity text sent (encrypted) in XX msg2. */
  pairingPayload?: Uint8Array;
  /** How long a transfer owner may stay silent before another host may take over (ms, default 60 s). */
  transferIdleMs?: number;
  /** Monotonic clock in ms (tests); default performance.now. */
  nowMs?: () => number;
}

export const DEFAULT_TRANSFER_IDLE_MS = 60_000;

type TransferKind = 'dataset' | 'firmware';

interface TransferOwner {
  hostKey: Uint8Array;
  lastActiveMs: number;
}

const PAIR_STATE_CODE: Record<PairState, number> = { pending: 0, paired: 1, rejected: 2 };

interface Pairing {
  responder: PairingResponder;
  stage: 'handshake' | 'pending' | 'paired' | 'rejected';
  code?: string;
  hostKey?: Uint8Array;
  deviceAccepted: boolean | null;
  hostAccepted: boolean | null;
  timer?: NodeJS.Timeout;
  /** Withdraws the device-side question when the pairing ends first. */
  asking?: AbortController;
  /** Set when storing the key failed (PAIRING_FULL): reported to the host instead of a state. */
  failure?: ProtocolError;
}

interface Session {
  channel: SecureChannel;
  hostKey: Uint8Array;
  /** The last accepted request's ciphertext and our sealed answer, for retransmissions. */
  lastCiphertext?: Uint8Array;
  lastAnswer?: Uint8Array;
}

interface ConnState {
  conn: LinkConnection;
  pairing: Pairing | null;
  session: Session | null;
  /** Requests on one connection run one at a time (nonce order, core state). */
  chain: Promise<unknown>;
}

export class SessionDispatcher {
  private readonly core: SessionCore;
  private readonly opts: DispatcherOptions;
  private readonly maxPaired: number;
  private readonly pairingTimeoutMs: number;
  private readonly conns = new Map<string, ConnState>();
  /** One pairing may wait for the device user at a time (one screen, one button). */
  private activePairing: ConnState | null = null;
  private closed = false;
  /** The host whose dataset / firmware transfer is in progress (module comment). */
  private readonly owners: Record<TransferKind, TransferOwner | null> = { dataset: null, firmware: null };
  private readonly transferIdleMs: number;
  private readonly nowMs: () => number;

  constructor(opts: DispatcherOptions) {
    this.opts = opts;
    this.core = opts.core;
    this.maxPaired = opts.maxPairedHosts ?? DEFAULT_MAX_PAIRED_HOSTS;
    if (!Number.isInteger(this.maxPaired) || this.maxPaired < 1 || this.maxPaired > 255) {
      throw new ProtocolError('INVALID_FIELD', 'maxPairedHosts must be 1..255');
    }
    this.pairingTimeoutMs = opts.pairingTimeoutMs ?? DEFAULT_PAIRING_TIMEOUT_MS;
    this.transferIdleMs = opts.transferIdleMs ?? DEFAULT_TRANSFER_IDLE_MS;
    this.nowMs = opts.nowMs ?? (() => performance.now());
  }

  /** The MessageHandler every link driver calls. Never rejects: failures become ERROR answers. */
  readonly handle: MessageHandler = (msg, conn) => {
    const st = this.stateOf(conn);
    const run = st.chain.then(() => this.dispatch(msg, st));
    st.chain = run.catch(() => undefined);
    return run;
  };

  /** Status for the Modbus input registers. */
  statusRegisters(): StatusRegisters {
    const s = this.core.status();
    return {
      protocolVersion: PROTOCOL_VERSION,
      firmwareVersion: s.firmwareVersion,
      datasetVersion: s.datasetVersion,
      datasetState: DATASET_STATES[s.datasetState] ?? 'none',
      verificationsServed: s.verificationsServed,
      framesRejected: s.framesRejected,
    };
  }

  /** Number of connections with state (tests, diagnostics). */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Forget every session and pairing, as a device does when it reboots. Links stay up. */
  resetSessions(): void {
    for (const st of this.conns.values()) {
      this.dropPairing(st, 'device rebooted');
      st.session = null;
    }
    // RAM state: after a reboot the first host to come back owns its transfer again
    this.owners.dataset = null;
    this.owners.firmware = null;
  }

  /** Drop every session and pending pairing. */
  close(): void {
    this.closed = true;
    for (const st of this.conns.values()) this.dropPairing(st, 'device closing');
    this.conns.clear();
  }

  private stateOf(conn: LinkConnection): ConnState {
    let st = this.conns.get(conn.id);
    if (!st) {
      const created: ConnState = { conn, pairing: null, session: null, chain: Promise.resolve() };
      st = created;
      this.conns.set(conn.id, created);
      conn.onClose(() => {
        this.dropPairing(created, 'link closed');
        if (this.conns.get(conn.id) === created) this.conns.delete(conn.id);
      });
    }
    return st;
  }

  private log(line: string): void {
    try {
      this.opts.log?.(line);
    } catch {
      // logging never breaks the device
    }
  }

  private async dispatch(bytes: Uint8Array, st: ConnState): Promise<Uint8Array> {
    let id = 0;
    try {
      if (this.closed) throw new ProtocolError('DISCONNECTED', 'device is shutting down');
      const m = decodeMessage(bytes);
      id = m.id;
      const answer = await this.plain(m, st);
      return answer instanceof Uint8Array ? answer : encodeMessage(answer);
    } catch (e) {
      const pe = asProtocolError(e);
      if (e instanceof MessageDecodeError && e.requestId !== undefined) id = e.requestId;
      this.reject();
      return encodeMessage(errorMessage(id, pe));
    }
  }

  private reject(): void {
    try {
      this.core.countRejectedFrame();
    } catch {
      // counting must never break the answer
    }
  }

  /** The answer, or the exact bytes of a cached answer (a retransmitted SECURE). */
  private async plain(m: PlainMessage, st: ConnState): Promise<Message | Uint8Array> {
    switch (m.type) {
      case 'INFO_REQ': {
        const info = this.core.info();
        return {
          type: 'INFO_RES',
          id: m.id,
          ...info,
          staticKey: this.core.staticKeyPair().publicKey,
          pairedHosts: Math.min(255, this.core.pairedHosts.list().length),
          maxPairedHosts: this.maxPaired,
        };
      }
      case 'STATUS_REQ':
        return { type: 'STATUS_RES', id: m.id, ...this.core.status() };
      case 'PAIR_INIT':
        return { type: 'PAIR_RESP', id: m.id, noise: this.pairInit(m.noise, st) };
      case 'PAIR_FINISH':
        this.pairFinish(m.noise, st);
        return this.pairStatus(m.id, st);
      case 'PAIR_CONFIRM':
        this.pairConfirm(m.accept, st);
        return this.pairStatus(m.id, st);
      case 'PAIR_POLL':
        return this.pairStatus(m.id, st);
      case 'SESSION_INIT':
        return { type: 'SESSION_RESP', id: m.id, noise: this.sessionInit(m.noise, st) };
      case 'SECURE':
        return this.secure(m, st);
      default:
        throw new ProtocolError('UNKNOWN_MESSAGE', `${m.type} is not a request`);
    }
  }

  // ---- pairing ------------------------------------------------------------------------------

  private pairedCount(extra?: Uint8Array): number {
    const n = this.core.pairedHosts.list().length;
    return extra && this.core.pairedHosts.isPaired(extra) ? n - 1 : n;
  }

  private pairInit(msg1: Uint8Array, st: ConnState): Uint8Array {
    if (this.activePairing && this.activePairing !== st && this.activePairing.pairing?.stage === 'pending') {
      throw new ProtocolError('BUSY', 'another pairing is waiting for confirmation on this device');
    }
    if (this.pairedCount() >= this.maxPaired) {
      throw new ProtocolError('PAIRING_FULL', `device already has ${this.maxPaired} paired hosts; forget one first`);
    }
    this.dropPairing(st, 'restarted');
    const responder = new PairingResponder({ staticKeyPair: this.core.staticKeyPair() });
    const msg2 = responder.respond(msg1, this.opts.pairingPayload);
    st.pairing = { responder, stage: 'handshake', deviceAccepted: null, hostAccepted: null };
    return msg2;
  }

  private pairFinish(msg3: Uint8Array, st: ConnState): void {
    const p = st.pairing;
    if (!p || p.stage !== 'handshake') throw new ProtocolError('NO_SESSION', 'no pairing handshake in progress (send PAIR_INIT first)');
    if (this.activePairing && this.activePairing !== st && this.activePairing.pairing?.stage === 'pending') {
      throw new ProtocolError('BUSY', 'another pairing is waiting for confirmation on this device');
    }
    let result;
    try {
      result = p.responder.complete(msg3);
    } catch (e) {
      st.pairing = null;
      throw asProtocolError(e, 'HANDSHAKE_FAILED');
    }
    p.stage = 'pending';
    p.code = result.code;
    p.hostKey = result.remoteStatic;
    this.activePairing = st;
    p.timer = setTimeout(() => this.finishPairing(st, p, false, 'timed out'), this.pairingTimeoutMs);
    p.timer.unref?.();
    this.log(`pairing requested on ${st.conn.id}`);
    let asked: Promise<boolean>;
    p.asking = new AbortController();
    try {
      asked = Promise.resolve(
        this.opts.confirmPairing(result.code, { connectionId: st.conn.id, hostKey: result.remoteStatic, signal: p.asking.signal }),
      );
    } catch (e) {
      asked = Promise.reject(e);
    }
    asked.then(
      (ok) => {
        if (st.pairing !== p || p.stage !== 'pending') return;
        p.deviceAccepted = ok === true;
        this.settle(st, p);
      },
      () => this.finishPairing(st, p, false, 'device confirmation failed'),
    );
  }

  private pairConfirm(accept: boolean, st: ConnState): void {
    const p = st.pairing;
    if (!p || p.stage === 'handshake') throw new ProtocolError('NO_SESSION', 'no pairing waiting for confirmation');
    if (p.stage !== 'pending') return; // already decided: report the state
    p.hostAccepted = accept;
    this.settle(st, p);
  }

  private settle(st: ConnState, p: Pairing): void {
    if (p.deviceAccepted === false || p.hostAccepted === false) {
      this.finishPairing(st, p, false, p.deviceAccepted === false ? 'rejected on the device' : 'rejected by the host');
    } else if (p.deviceAccepted === true && p.hostAccepted === true) {
      this.finishPairing(st, p, true, 'both sides accepted');
    }
  }

  private finishPairing(st: ConnState, p: Pairing, ok: boolean, why: string): void {
    if (st.pairing !== p || p.stage !== 'pending') return;
    clearTimeout(p.timer);
    p.asking?.abort();
    if (this.activePairing === st) this.activePairing = null;
    if (ok && p.hostKey) {
      if (!this.core.pairedHosts.isPaired(p.hostKey) && this.pairedCount() >= this.maxPaired) {
        p.stage = 'rejected';
        p.failure = new ProtocolError('PAIRING_FULL', `device already has ${this.maxPaired} paired hosts`);
        this.log(`pairing refused on ${st.conn.id}: full`);
        return;
      }
      try {
        this.core.pairedHosts.add(p.hostKey);
      } catch (e) {
        p.stage = 'rejected';
        p.failure = asProtocolError(e);
        this.log(`pairing failed on ${st.conn.id}: ${p.failure.code}`);
        return;
      }
      p.stage = 'paired';
      this.log(`paired host ${hex(p.hostKey).slice(0, 16)} on ${st.conn.id}`);
    } else {
      p.stage = 'rejected';
      this.log(`pairing rejected on ${st.conn.id}: ${why}`);
    }
  }

  private pairStatus(id: number, st: ConnState): Message {
    const p = st.pairing;
    if (!p || p.stage === 'handshake') throw new ProtocolError('NO_SESSION', 'no pairing in progress');
    if (p.failure) throw p.failure;
    return { type: 'PAIR_STATUS', id, state: PAIR_STATE_CODE[p.stage] };
  }

  private dropPairing(st: ConnState, why: string): void {
    const p = st.pairing;
    if (!p) return;
    if (p.stage === 'pending') this.finishPairing(st, p, false, why);
    clearTimeout(p.timer);
    st.pairing = null;
    if (this.activePairing === st) this.activePairing = null;
  }

  // ---- sessions -----------------------------------------------------------------------------

  private sessionInit(init: Uint8Array, st: ConnState): Uint8Array {
    const responder = new SessionResponder({
      staticKeyPair: this.core.staticKeyPair(),
      pairedHosts: () => this.core.pairedHosts.list(),
    });
    // A failed SESSION_INIT leaves the current session in place: a forged one cannot end it.
    const msg2 = responder.respond(init);
    st.session = { channel: responder.result.channel, hostKey: responder.result.remoteStatic };
    this.log(`session opened on ${st.conn.id}`);
    return msg2;
  }

  private async secure(m: Extract<PlainMessage, { type: 'SECURE' }>, st: ConnState): Promise<Message | Uint8Array> {
    const s = st.session;
    if (!s) throw new ProtocolError('NO_SESSION', 'no secure session on this link (send SESSION_INIT)');
    let plaintext: Uint8Array;
    try {
      plaintext = s.channel.open({ nonce: m.nonce, ciphertext: m.ciphertext });
    } catch (e) {
      const pe = asProtocolError(e);
      // A retransmission of the request we last answered: resend that answer, run nothing twice.
      if (pe.code === 'REPLAY' && pe.detail === 'duplicate' && s.lastAnswer && s.lastCiphertext && bytesEqual(s.lastCiphertext, m.ciphertext)) {
        return s.lastAnswer;
      }
      throw pe;
    }
    const inner = await this.inner(plaintext, s.hostKey);
    let innerBytes: Uint8Array;
    try {
      innerBytes = encodeMessage(inner);
    } catch (e) {
      // The core's answer does not fit the catalogue (a bug): say so inside the channel.
      this.reject();
      innerBytes = encodeMessage(errorMessage(inner.id, asProtocolError(e)));
    }
    const sealed = s.channel.seal(innerBytes);
    const res: Message = { type: 'SECURE_RES', id: m.id, nonce: sealed.nonce, ciphertext: sealed.ciphertext };
    s.lastCiphertext = Uint8Array.from(m.ciphertext);
    s.lastAnswer = encodeMessage(res);
    return res;
  }

  /** One inner request -> its inner answer (an inner ERROR on failure, sealed like any answer). */
  private async inner(plaintext: Uint8Array, hostKey: Uint8Array): Promise<Message> {
    let id = 0;
    try {
      const m = decodeInner(plaintext);
      id = m.id;
      const kind = transferKindOf(m.type);
      if (!kind) return await this.innerRequest(m);
      this.claimTransfer(kind, hostKey);
      const answer = await this.innerRequest(m);
      // A committed or aborted transfer has no owner any more.
      if (m.type === 'SYNC_COMMIT' || m.type === 'SYNC_ABORT' || m.type === 'FW_COMMIT') this.owners[kind] = null;
      return answer;
    } catch (e) {
      if (e instanceof MessageDecodeError && e.requestId !== undefined) id = e.requestId;
      this.reject();
      return errorMessage(id, asProtocolError(e));
    }
  }

  /** Refuse a transfer request from a host other than the active owner; else (re)claim it. */
  private claimTransfer(kind: TransferKind, hostKey: Uint8Array): void {
    const now = this.nowMs();
    const o = this.owners[kind];
    if (o && !bytesEqual(o.hostKey, hostKey) && this.transferInProgress(kind)) {
      const quietMs = now - o.lastActiveMs;
      if (quietMs < this.transferIdleMs) {
        const what = kind === 'dataset' ? `dataset transfer v${this.core.syncState().version}` : 'firmware transfer';
        throw new ProtocolError(
          'TRANSFER_OWNED',
          `${what} in progress from another host (${hex(o.hostKey).slice(0, 16)}, active ${Math.round(quietMs / 1000)} s ago); ` +
            `retry when it ends or after ${Math.round(this.transferIdleMs / 1000)} s of silence`,
        );
      }
      this.log(`${kind} transfer taken over from quiet host ${hex(o.hostKey).slice(0, 16)} (silent ${Math.round(quietMs / 1000)} s)`);
    }
    if (o && bytesEqual(o.hostKey, hostKey)) o.lastActiveMs = now;
    else this.owners[kind] = { hostKey: Uint8Array.from(hostKey), lastActiveMs: now };
  }

  private transferInProgress(kind: TransferKind): boolean {
    // A dataset transfer that the core dropped (data error, commit elsewhere) frees the device at
    // once; the port has no firmware transfer state, so that one ends with FW_COMMIT or silence.
    return kind === 'dataset' ? this.core.syncState().version !== 0 : true;
  }

  private async innerRequest(m: InnerMessage): Promise<Message> {
    const c = this.core;
    switch (m.type) {
      case 'VERIFY_REQ': {
        const { type: _t, id, ...req } = m;
        return { type: 'VERIFY_RES', id, ...(await c.verify(req)) };
      }
      case 'VERIFY_BATCH_REQ': {
        const items = [];
        for (const item of m.items) items.push(await c.verify(item));
        return { type: 'VERIFY_BATCH_RES', id: m.id, items };
      }
      case 'STATUS_REQ':
        return { type: 'STATUS_RES', id: m.id, ...c.status() };
      case 'SYNC_BEGIN':
        return { type: 'SYNC_STATE', id: m.id, ...(await c.syncBegin(m.manifest)) };
      case 'SYNC_CHUNK':
        return { type: 'SYNC_STATE', id: m.id, ...(await c.syncChunk(m.version, m.index, m.data)) };
      case 'SYNC_COMMIT':
        return { type: 'SYNC_DONE', id: m.id, activeVersion: await c.syncCommit(m.version) };
      case 'SYNC_ABORT':
        await c.syncAbort(m.version);
        return { type: 'ACK', id: m.id };
      case 'SYNC_STATUS':
        return { type: 'SYNC_STATE', id: m.id, ...c.syncState() };
      case 'FW_BEGIN':
        return { type: 'FW_STATE', id: m.id, ...(await c.fwBegin(m.manifest)) };
      case 'FW_CHUNK':
        return { type: 'FW_STATE', id: m.id, ...(await c.fwChunk(m.version, m.index, m.data)) };
      case 'FW_COMMIT':
        return { type: 'FW_DONE', id: m.id, ...(await c.fwCommit(m.version)) };
      case 'FW_CONFIRM':
        return { type: 'FW_DONE', id: m.id, ...(await c.fwConfirm(m.version)) };
      case 'UNPAIR':
        c.pairedHosts.remove(m.hostKey);
        this.log(`host ${hex(m.hostKey).slice(0, 16)} unpaired`);
        return { type: 'ACK', id: m.id };
      default:
        throw new ProtocolError('UNKNOWN_MESSAGE', `${m.type} is not a request`);
    }
  }
}

/** Transfer requests that change a transfer (SYNC_STATUS and FW_CONFIRM do not). */
function transferKindOf(type: InnerMessage['type']): TransferKind | null {
  switch (type) {
    case 'SYNC_BEGIN':
    case 'SYNC_CHUNK':
    case 'SYNC_COMMIT':
    case 'SYNC_ABORT':
      return 'dataset';
    case 'FW_BEGIN':
    case 'FW_CHUNK':
    case 'FW_COMMIT':
      return 'firmware';
    default:
      return null;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
