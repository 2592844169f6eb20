#!/bin/sh
# dracut cmdline hook (sourced): aoe=IFACES:DEVICES[:SECS]. Queues aoe up
# for when udev has settled (the network drivers are loaded then), and
# makes the initqueue wait for the devices (the root device's wait comes
# from root=).
type getarg > /dev/null 2>&1 || . /lib/dracut-lib.sh

aoe_arg=$(getarg aoe=)
if [ -n "$aoe_arg" ]; then
    aoe_if="${aoe_arg%%:*}"
    aoe_rest="${aoe_arg#"$aoe_if"}"
    aoe_rest="${aoe_rest#:}"
    aoe_devs="${aoe_rest%%:*}"
    aoe_secs="${aoe_rest#"$aoe_devs"}"
    aoe_secs="${aoe_secs#:}"
    if [ -z "$aoe_if" ] || [ -z "$aoe_devs" ]; then
        warn "aoe: want aoe=IFACES:DEVICES[:SECS], got aoe=$aoe_arg"
    else
        /sbin/initqueue --settled --onetime --unique --name aoe-up /sbin/aoe-dracut-up "$aoe_if" "$aoe_devs" "${aoe_secs:-60}"
        aoe_oldifs=$IFS
        IFS=,
        for aoe_d in $aoe_devs; do
            wait_for_dev "/dev/etherd/$aoe_d"
        done
        IFS=$aoe_oldifs
    fi
fi
unset aoe_arg aoe_if aoe_rest aoe_devs aoe_secs aoe_oldifs aoe_d
