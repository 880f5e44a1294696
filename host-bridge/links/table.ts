// The link providers the bridge uses, in the order their sources start and are listed. Adding a
// link kind is its provider module (see provider.ts) and one line here.
import { ble } from './ble.ts';
import { bleCable } from './ble-cable.ts';
import { hidCable } from './hid-cable.ts';
import type { AnyLinkProvider } from './provider.ts';
import { rs485 } from './rs485.ts';
import { usbHid } from './usb-hid.ts';

export const LINK_PROVIDERS: readonly AnyLinkProvider[] = [rs485, hidCable, bleCable, usbHid, ble];
