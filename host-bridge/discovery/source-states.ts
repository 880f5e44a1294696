// The state of every configured link target (a bus, a socket, a VID:PID, the radio), for
// `precheck devices`, doctor, sync and the status page: connected, absent, unavailable (no
// hardware, library or permission — reported, never a crash) or error, with the last error's code.
import type { LinkKind } from '../../protocol/link-kind.ts';
import { errorCode, type TargetState } from '../links/provider.ts';

export interface SourceState {
  kind: LinkKind;
  /** Port path@baud, socket path, "vid:pid", "radio". */
  target: string;
  state: TargetState;
  /** e.g. BLUETOOTH_UNAVAILABLE, DISCONNECTED, ENOENT. */
  code?: string;
  message?: string;
  devices: number;
  /** RS485: configured addresses that have not answered yet and are still probed. */
  searching?: number[];
}

export class SourceStates {
  private readonly byKey = new Map<string, SourceState>();

  /** The state record of one target (created "absent"); the same object on every call. */
  of(kind: LinkKind, target: string): SourceState {
    const key = `${kind}:${target}`;
    let s = this.byKey.get(key);
    if (!s) {
      s = { kind, target, state: 'absent', devices: 0 };
      this.byKey.set(key, s);
    }
    return s;
  }

  set(s: SourceState, state: TargetState, err?: unknown): void {
    s.state = state;
    if (err === undefined) {
      delete s.code;
      delete s.message;
    } else {
      s.code = errorCode(err);
      s.message = err instanceof Error ? err.message : String(err);
    }
  }

  setSearching(s: SourceState, addresses: readonly number[]): void {
    if (addresses.length === 0) delete s.searching;
    else s.searching = [...addresses];
  }

  /** Copies, in the order the targets were first seen. */
  list(): SourceState[] {
    return [...this.byKey.values()].map((s) => ({ ...s, ...(s.searching ? { searching: [...s.searching] } : {}) }));
  }
}
