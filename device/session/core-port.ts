// What the session layer needs from the device core, expressed in message bodies. The dispatcher
// codes only against this port; `core-adapter.ts` fits the real DeviceCore to it. Keeping the
// port separate lets the session tests drive the dispatcher with a real core or a minimal one,
// and keeps wire shapes (uint8 enums, 0 = none) out of the core.

import type { BodyOf, VerifyReqBody, VerifyResBody } from '../../protocol/messages/index.ts';
import type { StaticKeyPair } from '../../protocol/secure/index.ts';

export type InfoBody = Omit<BodyOf<'INFO_RES'>, 'staticKey' | 'pairedHosts' | 'maxPairedHosts'>;
export type StatusBody = BodyOf<'STATUS_RES'>;
export type TransferStateBody = BodyOf<'SYNC_STATE'>;
export type FwDoneBody = BodyOf<'FW_DONE'>;

/** The host keys this device accepts sessions from (pairing adds, UNPAIR removes; a bounded list). */
export interface PairedHostStore {
  list(): Uint8Array[];
  add(hostKey: Uint8Array): void;
  /** True when the key was paired. */
  remove(hostKey: Uint8Array): boolean;
  isPaired(hostKey: Uint8Array): boolean;
}

type Maybe<T> = T | Promise<T>;

/**
 * The device's application as the session layer sees it: the dispatcher decodes, authenticates
 * and routes messages, then calls exactly one of these with a message body and encodes what it
 * returns. Errors are ProtocolError with the code the host should get (SYNC_STATE,
 * SIGNATURE_INVALID, …). The calls that change state or do real work may answer with a promise;
 * the dispatcher awaits them.
 */
export interface SessionCore {
  /** INFO_RES fields the core owns (the session layer adds the static key and paired hosts). */
  info(): InfoBody;
  status(): StatusBody;
  /** Local authentication; the PAN arrives only here, inside the encrypted channel. */
  verify(req: VerifyReqBody): Maybe<VerifyResBody>;
  /** Starts (or resumes) a dataset transfer after checking the signed manifest. */
  syncBegin(manifest: Uint8Array): Maybe<TransferStateBody>;
  syncChunk(version: number, index: number, data: Uint8Array): Maybe<TransferStateBody>;
  /** Returns the active dataset version after the switch. */
  syncCommit(version: number): Maybe<number>;
  syncAbort(version: number): Maybe<void>;
  syncState(): TransferStateBody;
  fwBegin(manifest: Uint8Array): Maybe<TransferStateBody>;
  fwChunk(version: number, index: number, data: Uint8Array): Maybe<TransferStateBody>;
  fwCommit(version: number): Maybe<FwDoneBody>;
  fwConfirm(version: number): Maybe<FwDoneBody>;
  pairedHosts: PairedHostStore;
  /** A frame or message the links refused: STATUS_RES reports the count (framesRejected). */
  countRejectedFrame(): void;
  /** The device's Noise static key pair: its identity, pinned by hosts at pairing. */
  staticKeyPair(): StaticKeyPair;
}
