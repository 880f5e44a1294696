// Fits the DeviceCore (string enums, nullable fields, PairedHost records) to the session
// layer's port (message bodies: uint8 enums, absent optional fields, raw host keys).

import { ProtocolError } from '../../protocol/errors.ts';
import { TRANSFER_DEFAULT_MAX_MESSAGE } from '../../protocol/framing/modbus-transfer.ts';
import {
  DATASET_STATES,
  DECISIONS,
  FIRMWARE_STATES,
  type FirmwareState,
  PROTOCOL_VERSION,
  type VerifyReqBody,
  type VerifyResBody,
} from '../../protocol/messages/index.ts';
import { DeviceCore, type BootCheckResult, type DeviceCoreOptions } from '../core/index.ts';
import type { VerifyResult } from '../core/local-auth.ts';
import type { FwDoneBody, InfoBody, SessionCore, StatusBody } from './core-port.ts';

/**
 * Largest message the device accepts on any of its links: the CTAPHID maximum
 * (57 + 128 × 59 = 7609 bytes), which the RS485 transfer uses as its default too.
 */
export const DEVICE_MAX_MESSAGE = TRANSFER_DEFAULT_MAX_MESSAGE;

export interface OpenedCore extends SessionCore {
  /** The DeviceCore in use (a new one after reboot()). */
  readonly core: DeviceCore;
  /**
   * Emulated reboot: close the core and open it again, which runs the firmware boot check (a
   * trial image's self-test, or its rollback when it was never confirmed).
   */
  reboot(): BootCheckResult;
  close(): void;
}

const idx = <T extends string>(list: readonly T[], v: T): number => Math.max(0, list.indexOf(v));

export function toVerifyResBody(r: VerifyResult): VerifyResBody {
  return {
    decision: idx(DECISIONS, r.decision),
    reason: r.reason,
    ...(r.promptCode !== null ? { promptCode: r.promptCode } : {}),
    ...(r.promptMessage !== null ? { promptMessage: r.promptMessage } : {}),
    ...(r.promptLang !== null ? { promptLang: r.promptLang } : {}),
    token: r.token,
    bin: r.bin,
    last4: r.last4,
    ...(r.brand !== null ? { brand: r.brand } : {}),
    datasetVersion: r.datasetVersion,
    ...(r.gateway !== null ? { gateway: r.gateway } : {}),
    ...(r.alternatives.length > 0 ? { alternatives: r.alternatives } : {}),
  };
}

export function adaptDeviceCore(first: DeviceCore, reopen?: () => DeviceCore): OpenedCore {
  let core = first;
  const fwDone = (r: { version: number; state: FirmwareState }): FwDoneBody => ({ version: r.version, state: idx(FIRMWARE_STATES, r.state) });
  return {
    get core() {
      return core;
    },
    reboot(): BootCheckResult {
      if (!reopen) throw new ProtocolError('UNSUPPORTED', 'this core cannot reboot');
      core.close();
      core = reopen();
      return core.bootResult;
    },
    info(): InfoBody {
      const i = core.info();
      return {
        deviceId: i.deviceId,
        protocolVersion: PROTOCOL_VERSION,
        firmwareVersion: i.firmwareVersion,
        maxMessageSize: DEVICE_MAX_MESSAGE,
        datasetVersion: i.datasetVersion,
        datasetState: idx(DATASET_STATES, i.datasetState),
        datasetExpiresAt: i.datasetExpiresAt,
        ...(i.rulesVersion !== null ? { rulesVersion: i.rulesVersion } : {}),
      };
    },
    status(): StatusBody {
      const s = core.status();
      return { ...s, firmwareState: idx(FIRMWARE_STATES, s.firmwareState), datasetState: idx(DATASET_STATES, s.datasetState) };
    },
    verify: (req: VerifyReqBody) => toVerifyResBody(core.verify(req)),
    syncBegin: (m) => core.syncBegin(m),
    syncChunk: (v, i, d) => core.syncChunk(v, i, d),
    syncCommit: (v) => core.syncCommit(v).activeVersion,
    syncAbort: (v) => core.syncAbort(v),
    syncState: () => core.syncState(),
    fwBegin: (m) => core.fwBegin(m),
    fwChunk: (v, i, d) => core.fwChunk(v, i, d),
    fwCommit: (v) => fwDone(core.fwCommit(v)),
    fwConfirm: (v) => fwDone(core.fwConfirm(v)),
    pairedHosts: {
      list: () => core.pairedHosts.list().map((h) => h.publicKey),
      add: (k) => void core.pairedHosts.add(k, ''),
      remove: (k) => core.pairedHosts.remove(k),
      isPaired: (k) => core.pairedHosts.isPaired(k),
    },
    countRejectedFrame: () => core.countRejectedFrame(),
    staticKeyPair: () => core.staticKeyPair(),
    close: () => core.close(),
  };
}

/** Open the device in `dataDir` (provisioned) for the session layer. */
export async function openSessionCore(dataDir: string, opts: Pick<DeviceCoreOptions, 'maxPairedHosts' | 'now' | 'merchantCountry' | 'hooks'> = {}): Promise<OpenedCore> {
  return adaptDeviceCore(DeviceCore.open(dataDir, opts), () => DeviceCore.open(dataDir, opts));
}
