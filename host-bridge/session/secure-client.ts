// A paired device as the bridge sees it: a DeviceHandle over a host transport, speaking through
// a Noise KK session opened on first use (docs/protocol.md, "Sessions" and "Encrypted transport").
//
// - One exchange at a time per device (the channel's nonces must go out in order).
// - A SECURE that got no answer (TIMEOUT) is resent once with the same bytes, if the call's
//   budget has time left: the device either never saw it (and runs it now) or answers from its
//   cache; never re-sealed, so a request is executed at most once.
// - A call may carry a Deadline (runtime/deadline.ts; the pipeline's verify does): every
//   exchange inside it — INFO, SESSION_INIT, the SECURE and its resend — waits at most what the
//   budget has left, and nothing is sent once it is spent.
// - NO_SESSION from the device (it rebooted) or a transport disconnect drops the session; the
//   next request opens a new one (NO_SESSION: the request is retried once in the new session,
//   the device cannot have executed it).
// - A device that cannot prove the pinned static key is IDENTITY_MISMATCH: logged loudly, kept as
//   lastError, the device is unhealthy and nothing is sent to it until it is paired again.

import { EventEmitter } from 'node:events';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import {
  DATASET_STATES,
  DECISIONS,
  FIRMWARE_STATES,
  decodeInner,
  decodeMessage,
  encodeMessage,
  errorFromMessage,
  expectResponse,
  type BodyOf,
  type InfoRes,
  type InnerMessage,
  type MessageOf,
  type RequestName,
  type ResponseTo,
  type StatusRes,
  type VerifyReqBody,
  type VerifyResBody,
} from '../../protocol/messages/index.ts';
import { SessionInitiator, type SecureChannel } from '../../protocol/secure/index.ts';
import type { DeviceHandle, DeviceSummary, LocalVerifyRequest, LocalVerifyResult } from '../devices/types.ts';
import type { LinkKind } from '../../protocol/link-kind.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, RequestIds, exchange, isCode, type SessionTransport } from './exchange.ts';
import { sameBytes } from './pairing.ts';
import type { PinStore } from './pin-store.ts';
import type { Deadline } from '../../runtime/deadline.ts';

export type TransferState = BodyOf<'SYNC_STATE'>;
export type FirmwareDone = BodyOf<'FW_DONE'>;

type InnerRequestName = Extract<RequestName, InnerMessage['type']>;
type InnerRequest<R extends InnerRequestName> = { type: R } & BodyOf<R>;

/** One device call's waits: `timeoutMs` idles each exchange; `deadline` bounds the whole call. */
export interface CallOptions {
  timeoutMs?: number;
  deadline?: Deadline;
}
type Wait = { timeoutMs: number; deadline?: Deadline };

/** TIMEOUT when the call's budget is spent: nothing more is sent for it. */
function budgetLeft(wait: Wait, when: string): void {
  const d = wait.deadline;
  if (d?.expired) throw new ProtocolError('TIMEOUT', `the call's ${d.budgetMs} ms budget is spent ${when}`);
}

export interface SecureDeviceClientOptions {
  transport: SessionTransport;
  pinStore: PinStore;
  /** INFO_RES already read by discovery (skips one exchange). */
  info?: InfoRes;
  /** Idle timeout of one exchange, ms (default 3000); a call's Deadline cuts it shorter. */
  requestTimeoutMs?: number;
  /** Loud reporting of security events (identity mismatch). Defaults to stderr. */
  onSecurityEvent?: (line: string) => void;
}

/**
 * Events: 'status' (DeviceSummary) after every refresh, 'identity-mismatch' (ProtocolError),
 * 'disconnect' when the transport goes away.
 */
export class SecureDeviceClient extends EventEmitter implements DeviceHandle {
  private transport: SessionTransport;
  private readonly pins: PinStore;
  private readonly ids = new RequestIds();
  private readonly timeoutMs: number;
  private readonly onSecurity: (line: string) => void;
  private channel: SecureChannel | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private infoRes: InfoRes | null;
  private statusRes: StatusRes | null = null;
  private healthy = false;
  private lastError: string | undefined;
  private mismatch: ProtocolError | null = null;
  private closed = false;
  private readonly onDisconnect = (): void => {
    this.channel = null;
    this.healthy = false;
    this.lastError ??= 'DISCONNECTED: link lost';
    this.emit('disconnect');
  };

  constructor(opts: SecureDeviceClientOptions) {
    super();
    this.transport = opts.transport;
    this.pins = opts.pinStore;
    this.infoRes = opts.info ?? null;
    this.healthy = this.infoRes !== null;
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.onSecurity = opts.onSecurityEvent ?? ((l) => process.stderr.write(`${l}\n`));
    this.transport.on?.('disconnect', this.onDisconnect);
  }

  /** Device id (from INFO); empty until info() has run once. */
  get id(): string {
    return this.infoRes?.deviceId ?? '';
  }

  get link(): string {
    return this.transport.link;
  }

  get address(): string {
    return this.transport.address;
  }

  /** The transport in use (the registry swaps it when a link comes back). */
  get currentTransport(): SessionTransport {
    return this.transport;
  }

  get paired(): boolean {
    return this.id !== '' && this.pins.isPinned(this.id);
  }

  /** Use a new transport for the same device (link re-established). The session is re-opened. */
  replaceTransport(t: SessionTransport): void {
    this.transport.off?.('disconnect', this.onDisconnect);
    this.transport = t;
    this.channel = null;
    t.on?.('disconnect', this.onDisconnect);
  }

  /** Stop listening to the transport without closing it (a discarded probe handle). */
  release(): void {
    this.transport.off?.('disconnect', this.onDisconnect);
  }

  /** Forget the current session (the next secure request opens a new one). */
  dropSession(): void {
    this.channel = null;
  }

  summary(): DeviceSummary {
    const i = this.infoRes;
    const s = this.statusRes;
    const datasetVersion = s?.datasetVersion ?? i?.datasetVersion ?? 0;
    const datasetState = DATASET_STATES[s?.datasetState ?? i?.datasetState ?? 2] ?? 'none';
    const created = s?.datasetCreatedAt ?? 0;
    const expires = s?.datasetExpiresAt ?? i?.datasetExpiresAt ?? 0;
    return {
      id: this.id,
      link: this.transport.link as LinkKind,
      address: this.transport.address,
      paired: this.paired,
      healthy: this.healthy && this.mismatch === null,
      firmwareVersion: s?.firmwareVersion ?? i?.firmwareVersion ?? 0,
      firmwareState: FIRMWARE_STATES[s?.firmwareState ?? 0] ?? 'confirmed',
      datasetVersion,
      datasetState,
      datasetCreatedAt: created === 0 ? null : created,
      datasetExpiresAt: expires === 0 ? null : expires,
      rulesVersion: i?.rulesVersion ?? null,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  // ---- plaintext ----------------------------------------------------------------------------

  /** INFO_REQ (no session needed). */
  async info(opts: { timeoutMs?: number } = {}): Promise<InfoRes> {
    return this.serial(async () => {
      const r = await this.track(exchange(this.transport, { type: 'INFO_REQ', id: this.ids.next() }, opts.timeoutMs ?? this.timeoutMs));
      this.infoRes = r;
      return r;
    });
  }

  /** STATUS_REQ in clear (answered to anyone, paired or not). */
  async status(opts: { timeoutMs?: number } = {}): Promise<StatusRes> {
    return this.serial(async () => {
      const r = await this.track(exchange(this.transport, { type: 'STATUS_REQ', id: this.ids.next() }, opts.timeoutMs ?? this.timeoutMs));
      this.statusRes = r;
      return r;
    });
  }

  async refreshStatus(): Promise<DeviceSummary> {
    try {
      if (!this.infoRes) await this.info();
      await this.status();
    } catch {
      // recorded in lastError / healthy by track()
    }
    const s = this.summary();
    this.emit('status', s);
    return s;
  }

  // ---- secure -------------------------------------------------------------------------------

  async verify(req: LocalVerifyRequest, opts: CallOptions = {}): Promise<LocalVerifyResult> {
    const body: VerifyReqBody = {
      pan: req.pan,
      expMonth: req.expMonth,
      expYear: req.expYear,
      amount: req.amount,
      currency: req.currency,
      ...(req.country !== undefined ? { country: req.country } : {}),
      ...(req.lang !== undefined ? { lang: req.lang } : {}),
      ...(req.orderId !== undefined ? { orderId: req.orderId } : {}),
    };
    const res = await this.call({ type: 'VERIFY_REQ', ...body }, opts);
    return toLocalResult(res);
  }

  async verifyBatch(reqs: VerifyReqBody[], opts: CallOptions = {}): Promise<LocalVerifyResult[]> {
    const res = await this.call({ type: 'VERIFY_BATCH_REQ', items: reqs }, opts);
    return res.items.map(toLocalResult);
  }

  /** STATUS_REQ inside the session (authenticated answer). */
  async secureStatus(): Promise<StatusRes> {
    const r = await this.call({ type: 'STATUS_REQ' });
    this.statusRes = r;
    return r;
  }

  async syncBegin(manifestBytes: Uint8Array): Promise<TransferState> {
    return strip(await this.call({ type: 'SYNC_BEGIN', manifest: manifestBytes }));
  }
  async syncChunk(version: number, index: number, data: Uint8Array): Promise<TransferState> {
    return strip(await this.call({ type: 'SYNC_CHUNK', version, index, data }));
  }
  /** Returns the device's active dataset version after the switch. */
  async syncCommit(version: number): Promise<number> {
    return (await this.call({ type: 'SYNC_COMMIT', version })).activeVersion;
  }
  async syncAbort(version: number): Promise<void> {
    await this.call({ type: 'SYNC_ABORT', version });
  }
  async syncState(): Promise<TransferState> {
    return strip(await this.call({ type: 'SYNC_STATUS' }));
  }
  async fwBegin(manifestBytes: Uint8Array): Promise<TransferState> {
    return strip(await this.call({ type: 'FW_BEGIN', manifest: manifestBytes }));
  }
  async fwChunk(version: number, index: number, data: Uint8Array): Promise<TransferState> {
    return strip(await this.call({ type: 'FW_CHUNK', version, index, data }));
  }
  async fwCommit(version: number): Promise<FirmwareDone> {
    return strip(await this.call({ type: 'FW_COMMIT', version }));
  }
  async fwConfirm(version: number): Promise<FirmwareDone> {
    return strip(await this.call({ type: 'FW_CONFIRM', version }));
  }
  /** Ask the device to forget `hostKey` (default: this host) and, for this host, unpin it. */
  async unpair(hostKey?: Uint8Array): Promise<void> {
    const own = this.pins.hostKeyPair().publicKey;
    await this.call({ type: 'UNPAIR', hostKey: hostKey ?? own });
    if (!hostKey || sameBytes(hostKey, own)) {
      this.pins.unpin(this.id);
      this.channel = null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channel = null;
    this.transport.off?.('disconnect', this.onDisconnect);
    await this.transport.close();
  }

  /**
   * One inner request through the session. Public for the sync engine and tests; the typed
   * methods above are the normal way in.
   */
  call<R extends InnerRequestName>(req: InnerRequest<R>, opts: CallOptions = {}): Promise<MessageOf<ResponseTo<R>>> {
    // The budget runs from here: time queued behind another call is spent too.
    return this.serial(() => this.callNow(req, { timeoutMs: opts.timeoutMs ?? this.timeoutMs, ...(opts.deadline ? { deadline: opts.deadline } : {}) }));
  }

  private async callNow<R extends InnerRequestName>(req: InnerRequest<R>, wait: Wait): Promise<MessageOf<ResponseTo<R>>> {
    if (this.closed) throw new ProtocolError('DISCONNECTED', 'device handle closed');
    for (let attempt = 0; ; attempt++) {
      budgetLeft(wait, 'before sending');
      const channel = await this.ensureSession(wait);
      const inner = { ...req, id: this.ids.next() } as unknown as InnerMessage;
      const sealed = channel.seal(encodeMessage(inner));
      const outerReq = { type: 'SECURE' as const, id: this.ids.next(), nonce: sealed.nonce, ciphertext: sealed.ciphertext };
      const bytes = encodeMessage(outerReq);
      let answer: Uint8Array;
      try {
        answer = await this.send(bytes, wait);
      } catch (e) {
        throw this.noteFailure(e);
      }
      const outer = decodeMessage(answer);
      if (outer.type === 'ERROR') {
        const err = errorFromMessage(outer);
        if (err.code === 'NO_SESSION' && attempt === 0) {
          // The device lost our session (rebooted): it cannot have run the request.
          this.channel = null;
          continue;
        }
        if (err.code === 'NO_SESSION' || err.code === 'DECRYPT_FAILED') this.channel = null;
        throw this.noteFailure(err);
      }
      const res = expectResponse(outerReq, outer);
      let plaintext: Uint8Array;
      try {
        plaintext = channel.open({ nonce: res.nonce, ciphertext: res.ciphertext });
      } catch (e) {
        this.channel = null;
        throw this.noteFailure(e);
      }
      const innerRes = decodeInner(plaintext);
      this.noteSuccess();
      return expectResponse(inner as unknown as { type: R; id: number }, innerRes) as unknown as MessageOf<ResponseTo<R>>;
    }
  }

  /** Send SECURE bytes; on TIMEOUT resend the very same bytes once, while the budget lasts. */
  private async send(bytes: Uint8Array, wait: Wait): Promise<Uint8Array> {
    try {
      return await this.transport.request(bytes, wait);
    } catch (e) {
      if (!isCode(e, 'TIMEOUT')) throw asProtocolError(e, 'DISCONNECTED');
      if (wait.deadline?.expired) throw asProtocolError(e);
    }
    try {
      return await this.transport.request(bytes, wait);
    } catch (e) {
      throw asProtocolError(e, 'DISCONNECTED');
    }
  }

  private async ensureSession(wait: Wait): Promise<SecureChannel> {
    const { timeoutMs, deadline } = wait;
    if (this.mismatch) throw this.mismatch;
    if (this.channel) return this.channel;
    if (!this.infoRes) {
      this.infoRes = await this.track(exchange(this.transport, { type: 'INFO_REQ', id: this.ids.next() }, timeoutMs, deadline));
    }
    const pin = this.pins.get(this.id);
    if (!pin) throw new ProtocolError('NOT_PAIRED', `device ${this.id} is not paired with this host (run: precheck pair ${this.id})`);
    if (!sameBytes(pin.staticKey, this.infoRes.staticKey)) {
      // Re-read INFO once: a stale cached INFO must not condemn a genuine device.
      this.infoRes = await this.track(exchange(this.transport, { type: 'INFO_REQ', id: this.ids.next() }, timeoutMs, deadline));
      if (!sameBytes(pin.staticKey, this.infoRes.staticKey)) throw this.identityMismatch('announces a static key different from the one pinned at pairing');
    }
    const init = new SessionInitiator({ staticKeyPair: this.pins.hostKeyPair(), deviceStatic: pin.staticKey });
    let resp;
    try {
      resp = await this.track(exchange(this.transport, { type: 'SESSION_INIT', id: this.ids.next(), noise: init.init() }, timeoutMs, deadline));
    } catch (e) {
      if (isCode(e, 'HANDSHAKE_FAILED')) throw this.identityMismatch('could not authenticate a session with the pinned key');
      throw e;
    }
    try {
      this.channel = init.finish(resp.noise).channel;
    } catch (e) {
      if (isCode(e, 'IDENTITY_MISMATCH', 'HANDSHAKE_FAILED')) throw this.identityMismatch('did not prove the static key pinned at pairing');
      throw asProtocolError(e);
    }
    return this.channel;
  }

  private identityMismatch(why: string): ProtocolError {
    const err = new ProtocolError('IDENTITY_MISMATCH', `device ${this.id} at ${this.transport.address} ${why}; refusing it (re-pair only if the device was replaced on purpose)`);
    this.mismatch = err;
    this.channel = null;
    this.healthy = false;
    this.lastError = `IDENTITY_MISMATCH: ${err.message}`;
    this.onSecurity(`SECURITY: ${this.lastError}`);
    this.emit('identity-mismatch', err);
    return err;
  }

  /** Clear a recorded identity mismatch (after the user re-paired the device). */
  clearMismatch(): void {
    this.mismatch = null;
  }

  private async track<T>(p: Promise<T>): Promise<T> {
    try {
      const v = await p;
      this.noteSuccess();
      return v;
    } catch (e) {
      throw this.noteFailure(e);
    }
  }

  private noteSuccess(): void {
    this.healthy = true;
    if (!this.mismatch) this.lastError = undefined;
  }

  private noteFailure(e: unknown): ProtocolError {
    const pe = asProtocolError(e);
    if (isCode(pe, 'TIMEOUT', 'DISCONNECTED', 'BUSY')) {
      this.healthy = false;
      this.channel = pe.code === 'DISCONNECTED' ? null : this.channel;
    }
    if (!this.mismatch) this.lastError = `${pe.code}: ${pe.message}`;
    return pe;
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const p = this.queue.then(job, job);
    this.queue = p.catch(() => undefined);
    return p;
  }
}

function strip<T extends { type: string; id: number }>(m: T): Omit<T, 'type' | 'id'> {
  const { type: _t, id: _i, ...rest } = m;
  return rest;
}

export function toLocalResult(r: VerifyResBody): LocalVerifyResult {
  return {
    decision: DECISIONS[r.decision] ?? 'escalate',
    reason: r.reason,
    prompt: r.promptCode !== undefined && r.promptMessage !== undefined ? { code: r.promptCode, message: r.promptMessage, lang: r.promptLang ?? 'en' } : null,
    token: Buffer.from(r.token).toString('hex'),
    bin: r.bin,
    last4: r.last4,
    brand: r.brand ?? null,
    datasetVersion: r.datasetVersion,
    gateway: r.gateway ?? null,
    alternatives: r.alternatives ?? [],
  };
}
