#!/usr/bin/env bash
# Create (or remove) the Precheck verifier's USB HID gadget through configfs, giving /dev/hidgN.
#
#   sudo device/usb-gadget/create-hid-gadget.sh            # create and bind to the first UDC
#   sudo device/usb-gadget/create-hid-gadget.sh --remove   # unbind and remove
#
# Needs: a USB OTG/device controller (e.g. Raspberry Pi Zero 2 W with dtoverlay=dwc2 in
# config.txt and dwc2 + libcomposite modules), configfs mounted at /sys/kernel/config.
# Environment overrides: VID PID SERIAL MANUFACTURER PRODUCT GADGET UDC.
#
# Report descriptor: vendor-defined usage page 0xFF00, one 64-byte IN report and one 64-byte OUT
# report, no report IDs (the CTAPHID-style framing in protocol/framing/hid.ts). The same VID/PID
# are in device/links/common/usb-ids.ts and host-bridge/udev/99-precheck.rules. 0x1209/0x0001 is
# the pid.codes test PID: allocate a real PID before shipping.
set -euo pipefail

VID="${VID:-0x1209}"
PID="${PID:-0x0001}"
SERIAL="${SERIAL:-$(cat /etc/machine-id 2>/dev/null | cut -c1-16 || echo 0000000000000001)}"
MANUFACTURER="${MANUFACTURER:-Precheck}"
PRODUCT="${PRODUCT:-Precheck card verifier}"
GADGET="${GADGET:-precheck}"
CONFIGFS=/sys/kernel/config/usb_gadget
G="$CONFIGFS/$GADGET"

die() { echo "create-hid-gadget: $*" >&2; exit 1; }

remove() {
  [ -d "$G" ] || { echo "no gadget $GADGET"; return 0; }
  [ -s "$G/UDC" ] && echo "" > "$G/UDC" || true
  rm -f "$G/configs/c.1/hid.usb0"
  rmdir "$G/configs/c.1/strings/0x409" 2>/dev/null || true
  rmdir "$G/configs/c.1" 2>/dev/null || true
  rmdir "$G/functions/hid.usb0" 2>/dev/null || true
  rmdir "$G/strings/0x409" 2>/dev/null || true
  rmdir "$G"
  echo "removed gadget $GADGET"
}

if [ "${1:-}" = "--remove" ]; then remove; exit 0; fi

[ "$(id -u)" -eq 0 ] || die "must run as root"
modprobe libcomposite 2>/dev/null || true
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config || die "configfs not available"
[ -d "$CONFIGFS" ] || die "$CONFIGFS missing: load libcomposite"
[ -e "$G" ] && die "gadget $GADGET exists; run with --remove first"

mkdir -p "$G"
echo "$VID" > "$G/idVendor"
echo "$PID" > "$G/idProduct"
echo 0x0100 > "$G/bcdDevice"
echo 0x0200 > "$G/bcdUSB"
mkdir -p "$G/strings/0x409"
echo "$SERIAL" > "$G/strings/0x409/serialnumber"
echo "$MANUFACTURER" > "$G/strings/0x409/manufacturer"
echo "$PRODUCT" > "$G/strings/0x409/product"

mkdir -p "$G/configs/c.1/strings/0x409"
echo "Precheck HID" > "$G/configs/c.1/strings/0x409/configuration"
echo 100 > "$G/configs/c.1/MaxPower"

F="$G/functions/hid.usb0"
mkdir -p "$F"
echo 0 > "$F/protocol"      # none (not a boot keyboard/mouse)
echo 0 > "$F/subclass"      # no boot interface
echo 64 > "$F/report_length"
# Report descriptor (34 bytes):
#   06 00 FF  Usage Page (Vendor Defined 0xFF00)
#   09 01     Usage (0x01)
#   A1 01     Collection (Application)
#   09 20       Usage (0x20)            input report: device -> host
#   15 00       Logical Minimum (0)
#   26 FF 00    Logical Maximum (255)
#   75 08       Report Size (8)
#   95 40       Report Count (64)
#   81 02       Input (Data, Var, Abs)
#   09 21       Usage (0x21)            output report: host -> device
#   15 00       Logical Minimum (0)
#   26 FF 00    Logical Maximum (255)
#   75 08       Report Size (8)
#   95 40       Report Count (64)
#   91 02       Output (Data, Var, Abs)
#   C0        End Collection
printf '\x06\x00\xff\x09\x01\xa1\x01\x09\x20\x15\x00\x26\xff\x00\x75\x08\x95\x40\x81\x02\x09\x21\x15\x00\x26\xff\x00\x75\x08\x95\x40\x91\x02\xc0' \
  > "$F/report_desc"
ln -s "$F" "$G/configs/c.1/"

UDC="${UDC:-$(ls /sys/class/udc 2>/dev/null | head -n1)}"
[ -n "$UDC" ] || die "no USB device controller in /sys/class/udc (enable dwc2 / OTG)"
echo "$UDC" > "$G/UDC"

# The hidg minor number follows creation order; report which node belongs to this gadget.
DEV="$(cat "$F/dev")"
NODE="/dev/hidg${DEV#*:}"
echo "gadget $GADGET bound to $UDC: $NODE (VID $VID PID $PID, 64-byte reports)"
