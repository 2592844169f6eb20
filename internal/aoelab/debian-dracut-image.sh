#!/bin/sh
# Builds the Debian 12 image of the dracut boot test (make e2e-boot): as
# debian-image.sh, but the initramfs is made by dracut (059, which replaces
# initramfs-tools) and aoetools is not installed. The image's own initramfs
# is generic (hostonly=no), so that it boots from the virtio disk; the test
# builds the root-on-AoE one in the VM.
# Usage: debian-dracut-image.sh OUTDIR. Writes OUTDIR/root.img (raw ext4),
# OUTDIR/vmlinuz and OUTDIR/initrd.img. The cache key is this file's hash.
set -eu
out=$1
mirror=${AOE_E2E_MIRROR:-http://deb.debian.org/debian}
rm -rf "$out/root"
mkdir -p "$out"
mmdebstrap --quiet --variant=apt \
	--include=systemd-sysv,udev,kmod,dracut,linux-image-amd64,e2fsprogs,iproute2,dbus \
	--essential-hook='mkdir -p "$1/etc/dracut.conf.d"; echo "hostonly=no" > "$1/etc/dracut.conf.d/10-e2e.conf"' \
	--customize-hook='echo aoe-e2e-dracut > "$1/etc/hostname"' \
	--customize-hook='printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" > "$1/etc/fstab"' \
	--customize-hook='mkdir -p "$1/etc/systemd/network"; printf "[Match]\nName=eth*\n[Link]\nRequiredForOnline=carrier\n[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n" > "$1/etc/systemd/network/50-eth.network"' \
	--customize-hook='chroot "$1" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service' \
	--customize-hook='printf "#!/bin/sh\nstty -F /dev/ttyS1 raw -echo\nexec 3<>/dev/ttyS1\necho \"@@READY \$(uname -r)\" >&3\nwhile read -r id script <&3; do\n\techo \"\$script\" | base64 -d > /run/agent.sh\n\tsh /run/agent.sh > /run/agent.out 2> /run/agent.err < /dev/null\n\trc=\$?\n\t{ echo \"@@OUT \$id\"; base64 /run/agent.out; echo \"@@ERR \$id\"; base64 /run/agent.err; echo \"@@RC \$id \$rc\"; } >&3\ndone\n" > "$1/usr/local/sbin/e2e-agent"; chmod 755 "$1/usr/local/sbin/e2e-agent"' \
	--customize-hook='printf "[Unit]\nDescription=e2e test agent on ttyS1\nAfter=multi-user.target\n[Service]\nType=simple\nExecStart=/usr/local/sbin/e2e-agent\n[Install]\nWantedBy=multi-user.target\n" > "$1/etc/systemd/system/e2e-agent.service"; chroot "$1" systemctl enable e2e-agent.service' \
	--customize-hook='chroot "$1" passwd -d root' \
	--customize-hook='rm -f "$1/var/lib/man-db/auto-update"' \
	--customize-hook='cp "$1"/boot/vmlinuz-* "$1/../vmlinuz"; cp "$1"/boot/initrd.img-* "$1/../initrd.img"' \
	bookworm "$out/root" "$mirror"
mkfs.ext4 -q -F -L root -d "$out/root" "$out/root.img" 3G
rm -rf "$out/root"
