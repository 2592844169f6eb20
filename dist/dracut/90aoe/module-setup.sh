#!/bin/bash
# dracut module: a root file system (and other early disks) on ATA over
# Ethernet, with the kernel command line of the initramfs-tools script:
# aoe=IFACES:DEVICES[:SECS], such as aoe=eth0:e1.2p1 root=/dev/etherd/e1.2p1
# or aoe=eth0,eth1:e1.2p1,e1.3:120. The interfaces are brought up (AoE needs
# no address), the aoe driver is loaded restricted to them, targets are
# discovered, and the devices waited for (aoe up). Without aoe= it does
# nothing.

# Included when / is on /dev/etherd, when the running kernel was booted
# with aoe=, or when the configuration sets AOE_INITRAMFS=yes (as the
# initramfs-tools hook); otherwise only on request (dracut --add aoe). The
# configuration is read by aoe itself (aoe up --print), so that a value
# means here what it means to aoe.service; an invalid one fails the build
# on a machine that boots from AoE, and leaves the module out, with a
# warning, elsewhere.
check() {
    local initramfs
    require_binaries aoe ip || return 1
    case "$(findmnt -n -o SOURCE / 2> /dev/null)" in
        /dev/etherd/*) aoe_config_valid || return 1; return 0 ;;
    esac
    if grep -qs '\(^\| \)aoe=' /proc/cmdline; then
        aoe_config_valid || return 1
        return 0
    fi
    if ! initramfs=$(aoe up --print AOE_INITRAMFS); then
        dwarn "aoe: the AoE configuration is invalid (see above): the aoe module is left out"
        return 255
    fi
    [ "$initramfs" = yes ] && return 0
    return 255
}

# aoe_config_valid says whether aoe can read the configuration, and why
# not (aoe up names the file and the line).
aoe_config_valid() {
    aoe up --print AOE_INTERFACES > /dev/null && return 0
    derror "aoe: cannot use the AoE configuration (see above): fix it, then build the initramfs again"
    return 1
}

depends() {
    return 0
}

# The interfaces AoE uses: aoe= of the running kernel, AOE_INTERFACES.
aoe_interfaces() {
    local x v
    for x in $(cat /proc/cmdline); do
        case "$x" in aoe=*)
            v="${x#aoe=}"
            echo "${v%%:*}"
            ;;
        esac
    done
    aoe up --print AOE_INTERFACES 2> /dev/null
}

installkernel() {
    local i m drivers="" all=""
    hostonly='' instmods aoe
    # The drivers of those interfaces: every ethernet driver when they
    # are not known (or "all").
    for i in $(aoe_interfaces | tr ',' ' '); do
        [ "$i" = all ] && all=yes
        m=$(readlink -f "/sys/class/net/$i/device/driver/module" 2> /dev/null) || continue
        [ -n "$m" ] && [ -d "$m" ] && drivers="$drivers ${m##*/}"
    done
    if [ -n "$drivers" ] && [ -z "$all" ]; then
        hostonly='' instmods $drivers
    else
        hostonly='' instmods =drivers/net/ethernet
    fi
}

install() {
    inst_multiple ip
    inst /usr/sbin/aoe
    inst_rules 60-aoe.rules
    inst_hook cmdline 90 "$moddir/parse-aoe.sh"
    inst_script "$moddir/aoe-up.sh" /sbin/aoe-dracut-up
    if type dracut_need_initqueue > /dev/null 2>&1; then
        dracut_need_initqueue
    fi
}
