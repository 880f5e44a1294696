// Dataset sync receiver: signed manifest → hash-chained chunks → install (snapshot: into the
// inactive slot and switch; delta: in place in the active slot), atomically. Any failure leaves the active dataset untouched and says why (the
// ProtocolError code and message).
import { ProtocolError } from '../../protocol/errors.ts';
import { assemblePayload } from '../../protocol/dataset/build.ts';
import type { DatasetManifest } from '../../protocol/dataset/types.ts';
import type { Db } from '../store/database.ts';
import type { DatasetSlots, InstallHooks } from '../store/dataset-slots.ts';
import type { TransferStore } from '../store/transfers.ts';
import { TransferReceiver, type TransferState } from './transfer-receiver.ts';
import { toUnixSeconds, type NowMs } from '../../runtime/clock.ts';

export interface SyncReceiverDeps {
  db: Db;
  slots: DatasetSlots;
  transfers: TransferStore;
  trustedKeys: () => Uint8Array[];
  /** Wall clock, ms (runtime/clock.ts). */
  now: NowMs;
  hooks?: InstallHooks;
}

export class SyncReceiver {
  private readonly d: SyncReceiverDeps;
  private readonly rx: TransferReceiver;

  constructor(deps: SyncReceiverDeps) {
    this.d = deps;
    this.rx = new TransferReceiver({
      kind: 'dataset',
      transfers: deps.transfers,
      trustedKeys: deps.trustedKeys,
      now: deps.now,
      currentVersion: () => deps.slots.activeMeta()?.version ?? 0,
      check: (m: DatasetManifest) => {
        if (m.kind === 'firmware') throw new ProtocolError('INVALID_FIELD', 'a firmware manifest cannot be a dataset', 'kind');
        if (m.kind === 'delta') {
          const active = deps.slots.activeMeta()?.version ?? 0;
          if (m.baseVersion !== active) {
            throw new ProtocolError('SYNC_STATE', `delta from version ${m.baseVersion} does not apply to the active version ${active}`);
          }
        }
      },
    });
  }

  begin(signedManifest: Uint8Array): TransferState {
    return this.rx.begin(signedManifest);
  }

  chunk(version: number, index: number, data: Uint8Array): TransferState {
    return this.rx.chunk(version, index, data);
  }

  /** Verify, install (dataset-slots.ts), switch. Returns the now-active version. */
  commit(version: number): { activeVersion: number } {
    const { manifest, payload } = this.rx.completePayload(version);
    return this.rx.dropOnFailure(() => {
      const assembled = assemblePayload(manifest, payload);
      if (assembled.kind === 'firmware') throw new ProtocolError('INVALID_FIELD', 'a firmware payload cannot be a dataset', 'kind');
      const install = assembled.kind === 'snapshot' ? { kind: 'snapshot' as const, content: assembled.content } : { kind: 'delta' as const, delta: assembled.delta };
      try {
        this.d.db.transaction(() => {
          this.d.slots.install(manifest, install, toUnixSeconds(this.d.now()), this.d.hooks);
          this.rx.finish();
        })();
      } finally {
        this.d.slots.invalidate();
      }
      return { activeVersion: manifest.version };
    });
  }

  abort(version: number): void {
    this.rx.abort(version);
  }

  state(): TransferState {
    return this.rx.state();
  }
}
