#!/bin/sh
# Builds the Debian 12 image of the boot tests (make e2e-boot): a root file
# system made by mmdebstrap from Debian's archive, with systemd as PID 1,
# Debian's aoetools installed (the package ours replaces), and an agent on
# the second serial port that the test drives (the protocol of aoelab.VM).
# Usage: debian-image.sh OUTDIR. Writes OUTDIR/root.img (raw ext4),
# OUTDIR/vmlinuz and OUTDIR/initrd.img. The cache key is this file's hash.
# For speed under TCG, man-db does not rebuild its index on package changes
# and later initramfs builds take the modules the VM uses (MODULES=dep; the
# boot initramfs itself is built with Debian's default, most).
set -eu
out=$1
mirror=${AOE_E2E_MIRROR:-http://deb.debian.org/debian}
rm -rf "$out/root"
mkdir -p "$out"
mmdebstrap --quiet --variant=apt \
	--include=systemd-sysv,udev,kmod,linux-image-amd64,aoetools,e2fsprogs,iproute2,initramfs-tools,dbus \
	--customize-hook='echo aoe-e2e > "$1/etc/hostname"' \
	--customize-hook='printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" > "$1/etc/fstab"' \
	--customize-hook='mkdir -p "$1/etc/systemd/network"; printf "[Match]\nName=eth*\n[Link]\nRequiredForOnline=carrier\n[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n" > "$1/etc/systemd/network/50-eth.network"' \
	--customize-hook='chroot "$1" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service' \
	--customize-hook='printf "#!/bin/sh\nstty -F /dev/ttyS1 raw -echo\nexec 3<>/dev/ttyS1\necho \"@@READY \$(uname -r)\" >&3\nwhile read -r id script <&3; do\n\techo \"\$script\" | base64 -d > /run/agent.sh\n\tsh /run/agent.sh > /run/agent.out 2> /run/agent.err < /dev/null\n\trc=\$?\n\t{ echo \"@@OUT \$id\"; base64 /run/agent.out; echo \"@@ERR \$id\"; base64 /run/agent.err; echo \"@@RC \$id \$rc\"; } >&3\ndone\n" > "$1/usr/local/sbin/e2e-agent"; chmod 755 "$1/usr/local/sbin/e2e-agent"' \
	--customize-hook='printf "[Unit]\nDescription=e2e test agent on ttyS1\nAfter=multi-user.target\n[Service]\nType=simple\nExecStart=/usr/local/sbin/e2e-agent\n[Install]\nWantedBy=multi-user.target\n" > "$1/etc/systemd/system/e2e-agent.service"; chroot "$1" systemctl enable e2e-agent.service' \
	--customize-hook='chroot "$1" passwd -d root' \
	--customize-hook='rm -f "$1/var/lib/man-db/auto-update"' \
	--customize-hook='echo MODULES=dep > "$1/etc/initramfs-tools/conf.d/e2e-speed"' \
	--customize-hook='cp -L "$1/vmlinuz" "$1/initrd.img" "$1/../" 2>/dev/null || { cp "$1"/boot/vmlinuz-* "$1/../vmlinuz"; cp "$1"/boot/initrd.img-* "$1/../initrd.img"; }' \
	bookworm "$out/root" "$mirror"
mkfs.ext4 -q -F -L root -d "$out/root" "$out/root.img" 3G
rm -rf "$out/root"
