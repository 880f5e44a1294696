// USB identity of the verifier's HID gadget. 0x1209 is pid.codes (open-source hardware VID);
// PID 0x0001 is its test PID: a production device needs its own allocated PID. The same values
// are in device/usb-gadget/create-hid-gadget.sh and host-bridge/udev/99-precheck.rules.

export const PRECHECK_USB_VID = 0x1209;
export const PRECHECK_USB_PID = 0x0001;
/** Vendor-defined usage page of the 64-byte IN/OUT report descriptor. */
export const PRECHECK_HID_USAGE_PAGE = 0xff00;
export const PRECHECK_HID_USAGE = 0x01;
