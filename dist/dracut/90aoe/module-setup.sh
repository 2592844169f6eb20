#!/bin/bash
# dracut module: a root file system (and other early disks) on ATA over
# Ethernet, with the kernel command line of the initramfs-tools script:
# aoe=IFACES:DEVICES[:SECS], such as aoe=eth0:e1.2p1 root=/dev/etherd/e1.2p1
# or aoe=eth0,eth1:e1.2p1,e1.3:120. The interfaces are brought up (AoE needs
# no address), the aoe driver is loaded restricted to them, targets are
# discovered, and the devices waited for (aoe up). Without aoe= it does
# nothing.

# Included when / is on /dev/etherd, when the running kernel was booted
# with aoe=, or when /etc/aoe/aoe.conf sets AOE_INITRAMFS=yes (as the
# initramfs-tools hook); otherwise only on request (dracut --add aoe).
check() {
    require_binaries aoe ip || return 1
    case "$(findmnt -n -o SOURCE / 2> /dev/null)" in
        /dev/etherd/*) return 0 ;;
    esac
    grep -qs '\(^\| \)aoe=' /proc/cmdline && return 0
    grep -Eqs "^[[:space:]]*AOE_INITRAMFS=[\"']?(yes|true|on|1)" /etc/aoe/aoe.conf && return 0
    return 255
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
    sed -n "s/^[[:space:]]*AOE_INTERFACES=[\"']\{0,1\}\([^\"'#]*\).*/\1/p" /etc/aoe/aoe.conf 2> /dev/null
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
