// A minimal SessionCore for the session layer's unit tests: real keys, in-memory paired hosts,
// a verify that answers by the card's last digit. The integration tests use the real DeviceCore.
import { PROTOCOL_VERSION, type VerifyReqBody, type VerifyResBody } from '../../../protocol/messages/index.ts';
import { ProtocolError } from '../../../protocol/errors.ts';
import { generateStaticKeyPair, type StaticKeyPair } from '../../../protocol/secure/index.ts';
import type { SessionCore, TransferStateBody } from '../../../device/session/core-port.ts';

export interface StubCore extends SessionCore {
  verifyCalls: number;
  rejected: number;
  keys: StaticKeyPair;
}

export function stubCore(deviceId = 'pc-0123456789ab'): StubCore {
  const keys = generateStaticKeyPair();
  const hosts: Uint8Array[] = [];
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  let sync: TransferStateBody = { version: 0, nextChunk: 0, totalChunks: 0 };
  const core: StubCore = {
    verifyCalls: 0,
    rejected: 0,
    keys,
    info: () => ({
      deviceId,
      protocolVersion: PROTOCOL_VERSION,
      firmwareVersion: 1,
      maxMessageSize: 4096,
      datasetVersion: 0,
      datasetState: 2,
      datasetExpiresAt: 0,
    }),
    status: () => ({
      deviceId,
      firmwareVersion: 1,
      firmwareState: 0,
      datasetVersion: 0,
      datasetState: 2,
      datasetCreatedAt: 0,
      datasetExpiresAt: 0,
      verificationsServed: core.verifyCalls,
      framesRejected: core.rejected,
      syncVersion: sync.version,
      syncNextChunk: sync.nextChunk,
      syncTotalChunks: sync.totalChunks,
    }),
    verify(req: VerifyReqBody): VerifyResBody {
      core.verifyCalls++;
      const last = req.pan.at(-1);
      const decision = last === '0' ? 0 : last === '1' ? 1 : last === '2' ? 2 : 3;
      return {
        decision,
        reason: ['known_good', 'restricted', 'soft_decline', 'unknown'][decision],
        token: new Uint8Array(16).fill(7),
        bin: req.pan.slice(0, 6),
        last4: req.pan.slice(-4),
        datasetVersion: 0,
        ...(decision === 2 ? { promptCode: 'try_smaller', promptMessage: 'Try a smaller amount', promptLang: 'en' } : {}),
      };
    },
    syncBegin: () => {
      sync = { version: 5, nextChunk: 0, totalChunks: 2 };
      return sync;
    },
    syncChunk: (version, index) => {
      if (version !== sync.version || index !== sync.nextChunk) throw new ProtocolError('SYNC_STATE', 'unexpected chunk');
      sync = { ...sync, nextChunk: index + 1 };
      return sync;
    },
    syncCommit: (v) => v,
    syncAbort: () => {
      sync = { version: 0, nextChunk: 0, totalChunks: 0 };
    },
    syncState: () => sync,
    fwBegin: () => ({ version: 2, nextChunk: 0, totalChunks: 1 }),
    fwChunk: (version, index) => ({ version, nextChunk: index + 1, totalChunks: 1 }),
    fwCommit: (version) => ({ version, state: 1 }),
    fwConfirm: (version) => ({ version, state: 0 }),
    pairedHosts: {
      list: () => hosts.map((h) => Uint8Array.from(h)),
      add: (k) => {
        if (!hosts.some((h) => hex(h) === hex(k))) hosts.push(Uint8Array.from(k));
      },
      remove: (k) => {
        const i = hosts.findIndex((h) => hex(h) === hex(k));
        if (i >= 0) hosts.splice(i, 1);
        return i >= 0;
      },
      isPaired: (k) => hosts.some((h) => hex(h) === hex(k)),
    },
    countRejectedFrame: () => {
      core.rejected++;
    },
    staticKeyPair: () => keys,
  };
  return core;
}
