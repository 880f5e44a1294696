// Host side of pairing (docs/protocol.md, "Pairing"): INFO -> Noise XX -> the user compares the
// six-digit code -> PAIR_CONFIRM -> PAIR_POLL until the device-side user decided -> pin the
// device's static key. The key is pinned only when both users accepted.

import { ProtocolError } from '../../protocol/errors.ts';
import { PAIR_STATES, type InfoRes, type PairState } from '../../protocol/messages/index.ts';
import { PairingInitiator } from '../../protocol/secure/index.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, RequestIds, exchange, type SessionTransport } from './exchange.ts';
import type { PinStore, PinnedDevice } from './pin-store.ts';

export interface PairDeviceOptions {
  pinStore: PinStore;
  /** Per-request timeout (ms). */
  requestTimeoutMs?: number;
  /** How long to wait for the device-side user after the host user accepted (ms, default 120 s). */
  confirmTimeoutMs?: number;
  /** Interval between PAIR_POLLs (ms, default 250). */
  pollIntervalMs?: number;
  /** Encrypted identity text for the device (e.g. host name). */
  hostPayload?: Uint8Array;
  /** Called with the code before `confirm` (e.g. to print it). */
  onCode?: (code: string, info: InfoRes) => void;
  ids?: RequestIds;
}

export interface PairDeviceResult {
  info: InfoRes;
  pinned: PinnedDevice;
  code: string;
}

/**
 * Pair with the device behind `transport`. `confirm(code)` asks the host-side user whether the
 * device shows the same code. Throws PAIRING_REJECTED (either user said no), PAIRING_FULL,
 * TIMEOUT (the device user never answered), or a transport/handshake error.
 */
export async function pairDevice(
  transport: SessionTransport,
  confirm: (code: string, info: InfoRes) => Promise<boolean>,
  opts: PairDeviceOptions,
): Promise<PairDeviceResult> {
  const ids = opts.ids ?? new RequestIds();
  const t = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const info = await exchange(transport, { type: 'INFO_REQ', id: ids.next() }, t);

  const initiator = new PairingInitiator({ staticKeyPair: opts.pinStore.hostKeyPair() });
  const resp = await exchange(transport, { type: 'PAIR_INIT', id: ids.next(), noise: initiator.init() }, t);
  const msg3 = initiator.finish(resp.noise, opts.hostPayload);
  const result = initiator.result;
  if (!sameBytes(result.remoteStatic, info.staticKey)) {
    // The key in INFO is only informative, but a device that announces one key and proves
    // another is not the device the user thinks it is.
    throw new ProtocolError('IDENTITY_MISMATCH', 'device proved a different static key than it announced');
  }
  let state = stateOf((await exchange(transport, { type: 'PAIR_FINISH', id: ids.next(), noise: msg3 }, t)).state);

  opts.onCode?.(result.code, info);
  let accepted = false;
  try {
    accepted = (await confirm(result.code, info)) === true;
  } finally {
    if (!accepted) {
      // Tell the device so it drops the handshake; best effort, the refusal stands regardless.
      await exchange(transport, { type: 'PAIR_CONFIRM', id: ids.next(), accept: false }, t).catch(() => undefined);
    }
  }
  if (!accepted) throw new ProtocolError('PAIRING_REJECTED', 'pairing refused on the host: codes not confirmed');

  state = stateOf((await exchange(transport, { type: 'PAIR_CONFIRM', id: ids.next(), accept: true }, t)).state);
  const deadline = Date.now() + (opts.confirmTimeoutMs ?? 120_000);
  const pollMs = opts.pollIntervalMs ?? 250;
  while (state === 'pending') {
    if (Date.now() >= deadline) {
      await exchange(transport, { type: 'PAIR_CONFIRM', id: ids.next(), accept: false }, t).catch(() => undefined);
      throw new ProtocolError('TIMEOUT', 'the device user did not confirm the pairing code in time');
    }
    // Polling is the protocol here: the device cannot push the user's answer on a master/slave bus.
    await new Promise((r) => setTimeout(r, pollMs));
    state = stateOf((await exchange(transport, { type: 'PAIR_POLL', id: ids.next() }, t)).state);
  }
  if (state === 'rejected') throw new ProtocolError('PAIRING_REJECTED', 'pairing refused on the device');

  const pinned = opts.pinStore.pin(info.deviceId, { staticKey: result.remoteStatic, link: transport.link, address: transport.address });
  return { info, pinned, code: result.code };
}

function stateOf(n: number): PairState {
  const s = PAIR_STATES[n];
  if (!s) throw new ProtocolError('INVALID_FIELD', 'unknown pairing state', String(n));
  return s;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
