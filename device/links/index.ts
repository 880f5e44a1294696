// Device link drivers: what the device core and `precheck device emulate` use.
export type { LinkConnection, LinkDriver, LinkKind, MessageHandler, RejectedFrame, StatusProvider, StatusRegisters } from './types.ts';
export { Rs485SlaveDriver, type Rs485SlaveDriverOptions, type Rs485SlaveUnit, type Rs485Connection } from './rs485-slave-driver.ts';
export { HidGadgetDriver, type HidGadgetDriverOptions } from './hid-gadget-driver.ts';
export { HidCableServer, type HidCableServerOptions } from './hid-cable-server.ts';
export { BlePeripheralDriver, loadBleno, type BlePeripheralDriverOptions } from './ble-peripheral-driver.ts';
export { BleCableServer, type BleCableServerOptions } from './ble-cable-server.ts';
export { HidEndpoint, type HidEndpointOptions } from './hid-endpoint.ts';
export { BleEndpoint, type BleEndpointOptions } from './ble-endpoint.ts';
export { LinkUnavailableError, isLinkUnavailable, type LinkUnavailableCode } from '../../link-io/link-errors.ts';
export { PacedSerialWriter } from '../../link-io/paced-serial-writer.ts';
export { PRECHECK_USB_VID, PRECHECK_USB_PID } from '../../link-io/usb-ids.ts';
