// Host transports: what discovery and device sessions use.
export { DEFAULT_EXCHANGE_TIMEOUT_MS, type MessageTransport, type RequestOptions } from './types.ts';
export { Rs485Bus, Rs485DeviceTransport, type Rs485BusOptions } from './rs485-bus.ts';
export { HidTransport, HidHotplugWatcher, enumerateHid, loadNodeHid, type HidDeviceInfo, type HidFilter, type HidTransportOptions } from './hid-transport.ts';
export { HidCableTransport, type HidCableTransportOptions } from './hid-cable-transport.ts';
export { HidChannelTransport } from './hid-channel-transport.ts';
export { BleTransport, loadNoble, scanBle, type BlePeripheralInfo, type BleTransportOptions } from './ble-transport.ts';
export { BleCableTransport, type BleCableTransportOptions } from './ble-cable-transport.ts';
export { BleChannelTransport } from './ble-channel-transport.ts';
export { ReconnectingTransport, type ReconnectingTransportOptions } from './reconnecting-transport.ts';
export { LinkUnavailableError, isLinkUnavailable } from '../../link-io/link-errors.ts';
