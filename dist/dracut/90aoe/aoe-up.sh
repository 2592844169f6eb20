#!/bin/sh
# Run once by dracut's initqueue after udev settled: aoe-dracut-up IFACES
# DEVICES SECS (lists separated by commas). Brings the interfaces up, then
# aoe up loads the aoe driver restricted to them, discovers, and waits for
# the devices.
type getarg > /dev/null 2>&1 || . /lib/dracut-lib.sh

ifaces=$1
devs=$2
secs=${3:-60}
oldifs=$IFS
IFS=,
for i in $ifaces; do
    ip link set dev "$i" up || warn "aoe: cannot bring $i up"
done
IFS=$oldifs
conf=/run/aoe-initramfs.conf
{
    echo "AOE_BOOT=yes"
    echo "AOE_INTERFACES=$ifaces"
    echo "AOE_WAIT=$devs"
    echo "AOE_TIMEOUT=$secs"
    echo "AOE_FSTAB=no"
} > "$conf"
info "aoe: waiting for AoE devices $devs on $ifaces"
if /usr/sbin/aoe up --config "$conf" --legacy-config /nonexistent --fstab /nonexistent; then
    info "aoe: $devs ready"
else
    warn "aoe: $devs did not appear on $ifaces"
fi
