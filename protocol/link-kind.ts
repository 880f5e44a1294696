// The links a verifier is reached on: the one list of their names, shared by the device's link
// drivers, the bridge's transports, link providers, API and status, and the service's device
// registry (here in protocol/, the one folder all three may import). The words are the bridge
// API's and config's: `usb` is a real USB HID verifier (config `devices.usb`), `hid-cable` and
// `ble-cable` the emulator's virtual cables over unix sockets (`devices.cables.hidSocket`,
// `bleSocket`), `ble` a real Bluetooth LE handheld, `rs485` a Modbus RTU bus.

export const LINK_KINDS = ['usb', 'rs485', 'ble', 'hid-cable', 'ble-cable'] as const;

export type LinkKind = (typeof LINK_KINDS)[number];
