// Firmware update receiver with A/B slots and trial boot, in emulation:
//   commit  → the verified image is written to the inactive slot (dataDir/firmware/{a,b}/image)
//             and made active in state "trial" (the device "reboots" into it);
//   boot    → bootCheck(): a trial image that has not booted yet runs its self-test (failure →
//             roll back); a trial image that already booted once and was never confirmed → roll
//             back (the classic boot-count rule);
//   confirm → the trial image becomes permanent.
// The firmware a device ships with (no slot) is FACTORY_FIRMWARE_VERSION.
import fs from 'node:fs';
import path from 'node:path';
import { ProtocolError } from '../../protocol/errors.ts';
import { assemblePayload } from '../../protocol/dataset/build.ts';
import type { DatasetManifest } from '../../protocol/dataset/types.ts';
import type { FirmwareState } from '../../protocol/messages/catalogue.ts';
import type { Db } from '../store/database.ts';
import { type Slot, otherSlot } from '../store/schema.ts';
import type { TransferStore } from '../store/transfers.ts';
import { decodeFirmwareImage } from './firmware-image.ts';
import { TransferReceiver, type TransferState } from './transfer-receiver.ts';
import { toUnixSeconds, type NowMs } from '../../runtime/clock.ts';

export const FACTORY_FIRMWARE_VERSION = 1;

export type RollbackReason = 'self_test_failed' | 'not_confirmed' | 'image_unreadable';

export interface FirmwareInfo {
  version: number;
  state: FirmwareState;
  /** null = factory image */
  slot: Slot | null;
  previousVersion: number | null;
  lastRollbackReason: string | null;
  lastRollbackAt: number | null;
}

export interface BootCheckResult {
  rolledBack: boolean;
  reason?: RollbackReason;
  info: FirmwareInfo;
}

export interface FirmwareReceiverDeps {
  db: Db;
  dataDir: string;
  transfers: TransferStore;
  trustedKeys: () => Uint8Array[];
  /** Wall clock, ms (runtime/clock.ts). */
  now: NowMs;
  onRollback?: (reason: RollbackReason) => void;
}

interface Row {
  active_slot: Slot | null;
  active_version: number;
  previous_slot: Slot | null;
  previous_version: number | null;
  state: FirmwareState;
  trial_booted: number;
  last_rollback_reason: string | null;
  last_rollback_at: number | null;
}

export function firmwareImagePath(dataDir: string, slot: Slot): string {
  return path.join(dataDir, 'firmware', slot, 'image');
}

export class FirmwareReceiver {
  private readonly d: FirmwareReceiverDeps;
  private readonly rx: TransferReceiver;

  constructor(deps: FirmwareReceiverDeps) {
    this.d = deps;
    deps.db
      .prepare(`INSERT OR IGNORE INTO firmware_state (id, active_slot, active_version, state) VALUES (1, NULL, ?, 'confirmed')`)
      .run(FACTORY_FIRMWARE_VERSION);
    this.rx = new TransferReceiver({
      kind: 'firmware',
      transfers: deps.transfers,
      trustedKeys: deps.trustedKeys,
      now: deps.now,
      currentVersion: () => this.row().active_version,
      check: (m: DatasetManifest) => {
        if (m.kind !== 'firmware') throw new ProtocolError('INVALID_FIELD', 'a dataset manifest cannot be firmware', 'kind');
        if (this.row().state === 'trial') throw new ProtocolError('SYNC_STATE', 'the trial firmware must be confirmed or rolled back first');
      },
    });
  }

  private row(): Row {
    return this.d.db.prepare(`SELECT * FROM firmware_state WHERE id = 1`).get() as Row;
  }

  info(): FirmwareInfo {
    const r = this.row();
    return {
      version: r.active_version,
      state: r.state,
      slot: r.active_slot,
      previousVersion: r.previous_version,
      lastRollbackReason: r.last_rollback_reason,
      lastRollbackAt: r.last_rollback_at,
    };
  }

  begin(signedManifest: Uint8Array): TransferState {
    return this.rx.begin(signedManifest);
  }

  chunk(version: number, index: number, data: Uint8Array): TransferState {
    return this.rx.chunk(version, index, data);
  }

  state(): TransferState {
    return this.rx.state();
  }

  abort(version: number): void {
    this.rx.abort(version);
  }

  /** Verify the image, write it to the inactive slot and boot it on trial. */
  commit(version: number): { version: number; state: FirmwareState } {
    const { manifest, payload } = this.rx.completePayload(version);
    return this.rx.dropOnFailure(() => {
      const assembled = assemblePayload(manifest, payload);
      if (assembled.kind !== 'firmware') throw new ProtocolError('FIRMWARE_INVALID', 'not a firmware payload');
      const image = decodeFirmwareImage(assembled.image);
      if (image.version !== manifest.version) {
        throw new ProtocolError('FIRMWARE_INVALID', `image says version ${image.version}, manifest ${manifest.version}`);
      }
      const cur = this.row();
      const target: Slot = cur.active_slot ? otherSlot(cur.active_slot) : 'a';
      writeDurably(firmwareImagePath(this.d.dataDir, target), assembled.image);
      this.d.db.transaction(() => {
        this.d.db
          .prepare(
            `UPDATE firmware_state SET previous_slot = active_slot, previous_version = active_version,
               active_slot = ?, active_version = ?, state = 'trial', trial_booted = 0 WHERE id = 1`,
          )
          .run(target, manifest.version);
        this.rx.finish();
      })();
      return { version: manifest.version, state: 'trial' as const };
    });
  }

  /** Make the trial image permanent. Idempotent for the already-confirmed version. */
  confirm(version: number): { version: number; state: FirmwareState } {
    const r = this.row();
    if (r.state === 'confirmed' && r.active_version === version) return { version, state: 'confirmed' };
    if (r.state !== 'trial' || r.active_version !== version) {
      throw new ProtocolError('SYNC_STATE', `no trial firmware of version ${version} (running ${r.active_version}, ${r.state})`);
    }
    if (!r.trial_booted) {
      // confirmed without a reboot in between: the self-test still has to pass first
      const check = this.selfTest(r);
      if (check !== null) {
        this.rollback(check);
        throw new ProtocolError('FIRMWARE_INVALID', `trial firmware ${version} failed (${check}); rolled back to ${r.previous_version}`);
      }
    }
    this.d.db
      .prepare(`UPDATE firmware_state SET state = 'confirmed', trial_booted = 0, previous_slot = NULL, previous_version = NULL WHERE id = 1`)
      .run();
    return { version, state: 'confirmed' };
  }

  /** Run at every start. Rolls back a failed or unconfirmed trial image and records why. */
  bootCheck(): BootCheckResult {
    const r = this.row();
    if (r.state !== 'trial') return { rolledBack: false, info: this.info() };
    const reason: RollbackReason | null = r.trial_booted ? 'not_confirmed' : this.selfTest(r);
    if (reason) {
      this.rollback(reason);
      return { rolledBack: true, reason, info: this.info() };
    }
    this.d.db.prepare(`UPDATE firmware_state SET trial_booted = 1 WHERE id = 1`).run();
    return { rolledBack: false, info: this.info() };
  }

  private selfTest(r: Row): RollbackReason | null {
    if (!r.active_slot) return null;
    try {
      const img = decodeFirmwareImage(new Uint8Array(fs.readFileSync(firmwareImagePath(this.d.dataDir, r.active_slot))));
      if (img.version !== r.active_version) return 'image_unreadable';
      return img.selfTest === 'ok' ? null : 'self_test_failed';
    } catch {
      return 'image_unreadable';
    }
  }

  private rollback(reason: RollbackReason): void {
    this.d.db
      .prepare(
        `UPDATE firmware_state SET active_slot = previous_slot, active_version = coalesce(previous_version, ?),
           previous_slot = NULL, previous_version = NULL, state = 'confirmed', trial_booted = 0,
           last_rollback_reason = ?, last_rollback_at = ? WHERE id = 1`,
      )
      .run(FACTORY_FIRMWARE_VERSION, reason, toUnixSeconds(this.d.now()));
    this.d.onRollback?.(reason);
  }
}

function writeDurably(file: string, data: Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
