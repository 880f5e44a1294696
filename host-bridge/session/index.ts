// Public surface of the bridge's session layer.
export { PinStore, PIN_FILE, type PinnedDevice } from './pin-store.ts';
export { pairDevice, type PairDeviceOptions, type PairDeviceResult } from './pairing.ts';
export { SecureDeviceClient, toLocalResult, type SecureDeviceClientOptions, type TransferState, type FirmwareDone } from './secure-client.ts';
export { exchange, RequestIds, DEFAULT_REQUEST_TIMEOUT_MS, type SessionTransport } from './exchange.ts';
