#!/usr/bin/env bash
# Builds the box's bootable x86-64 UEFI disk image from Debian packages:
#
#   provisioning/image/build.sh --binary PATH --out IMG
#
# Debian bookworm by debootstrap; systemd-boot on the EFI partition; the kernel's command line
# finds the root by its partition label. The appliance runs from update slot a as the
# `sothebais` service (provisioning/systemd/sothebais.service, with the slot guard). At first
# boot, sothebais-firstboot (provisioning/image/firstboot) adds the data partition over the
# rest of the disk, LUKS2-encrypted and sealed to the TPM2 (a key file on the root instead on a
# box without one, see README), shows a recovery key once, names the box, makes the admin
# account and shows its one-time password, the admin page's address and its certificate's
# fingerprint on the console.
# Nothing secret is in the image. Needs root, debootstrap, sfdisk, mkfs.vfat, mkfs.ext4, mtools.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prov="$(dirname "$here")"

binary="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -n "$binary" ] && [ -n "$out" ] || { echo "usage: $0 --binary PATH --out IMG" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "building the image needs root (debootstrap, chroot)" >&2; exit 2; }

work=$(mktemp -d /var/tmp/sothebais-image.XXXXXX)
trap 'umount -R "$work/root/proc" "$work/root/sys" "$work/root/dev" 2>/dev/null || true; rm -rf "$work"' EXIT
root="$work/root"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages=systemd,systemd-sysv,udev,dbus,linux-image-amd64,initramfs-tools,systemd-boot,systemd-timesyncd,cryptsetup,cryptsetup-initramfs,tpm2-tools,libtss2-rc0,libtss2-esys-3.0.2-0,e2fsprogs,fdisk,iproute2,systemd-resolved,avahi-daemon,libnss-mdns,unattended-upgrades,ca-certificates,flite,ffmpeg,openssl,curl,qemu-guest-agent

echo "debootstrap bookworm ($mirror)"
cache="${DEBOOTSTRAP_CACHE:-/var/cache/sothebais/debootstrap}"
mkdir -p "$cache"
debootstrap --variant=minbase --cache-dir="$cache" --include="$packages" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

# The appliance: slot a, the guard, the unit, its user and configuration.
install -d -m 0755 "$root/opt/sothebais/slots/a" "$root/opt/sothebais/slots/b" "$root/etc/sothebais"
install -m 0755 "$binary" "$root/opt/sothebais/slots/a/appliance"
version=$("$binary" --version | awk '{print $2}')
echo "$version" > "$root/opt/sothebais/slots/a/VERSION"
ln -s a "$root/opt/sothebais/slots/current"
printf '%s\tinstalled\t%s\tthe image, slot a\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$version" > "$root/opt/sothebais/slots/history"
install -m 0755 "$prov/slot-guard" "$root/opt/sothebais/slot-guard"
install -m 0644 "$prov/systemd/sothebais.service" "$root/etc/systemd/system/sothebais.service"
install -m 0644 "$here/appliance.toml" "$root/etc/sothebais/appliance.toml"
install -m 0755 "$here/firstboot" "$root/usr/local/sbin/sothebais-firstboot"
install -m 0644 "$here/sothebais-firstboot.service" "$root/etc/systemd/system/sothebais-firstboot.service"
install -m 0755 "$here/welcome" "$root/usr/local/sbin/sothebais-welcome"
install -m 0644 "$here/sothebais-welcome.service" "$root/etc/systemd/system/sothebais-welcome.service"

cat > "$root/etc/fstab" <<'EOF'
PARTLABEL=root        /                   ext4  defaults,errors=remount-ro  0 1
PARTLABEL=esp         /boot/efi           vfat  umask=0077                  0 2
EOF
# The data partition (/etc/crypttab and its line in /etc/fstab) is made at first boot.
: > "$root/etc/crypttab"
echo sothebais > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 sothebais\n' > "$root/etc/hosts"
# Networking by DHCP on any wired interface (systemd-networkd).
install -d "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\nMulticastDNS=no\n' > "$root/etc/systemd/network/80-wired.network"
# The journal stays in memory: the appliance's log names bidders and quotes their tweets, and
# the system disk is not encrypted (the data partition is).
install -d "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=64M\n' > "$root/etc/systemd/journald.conf.d/10-sothebais.conf"
# Security updates for the OS, unattended.
cat > "$root/etc/apt/apt.conf.d/20auto-upgrades" <<'EOF'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
EOF
printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' > "$root/etc/apt/sources.list"

mount --bind /proc "$root/proc"; mount --bind /sys "$root/sys"; mount --bind /dev "$root/dev"
chroot "$root" /bin/sh -e <<'EOF'
useradd --system --home-dir /var/lib/sothebais --no-create-home --shell /usr/sbin/nologin --groups video sothebais
getent group render >/dev/null && usermod -aG render sothebais || true
install -d -m 0700 -o sothebais -g sothebais /var/lib/sothebais
chown -R sothebais:sothebais /opt/sothebais/slots
systemctl enable sothebais.service sothebais-firstboot.service sothebais-welcome.service avahi-daemon.service systemd-timesyncd.service systemd-networkd.service systemd-resolved.service
# The console shows the boot and the first boot's messages.
systemctl mask getty@tty1.service >/dev/null
passwd -l root >/dev/null
echo 'root:*' | chpasswd -e
EOF
umount "$root/proc" "$root/sys" "$root/dev"

# The partitions: EFI (256 MiB) and root (the rest of the image); the data partition is added
# at first boot over the rest of the disk.
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)
root_mib=$(( $(du -sm --exclude=./proc --exclude=./sys "$root" | cut -f1) * 13 / 10 + 256 ))
esp_mib=256
esp="$work/esp.img" rootimg="$work/root.img"
truncate -s "${esp_mib}M" "$esp"
mkfs.vfat -F 32 -n ESP "$esp" >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$esp" "$root/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$kernel" ::/vmlinuz
mcopy -i "$esp" "$initrd" ::/initrd.img
printf 'timeout 0\ndefault sothebais.conf\n' > "$work/loader.conf"
mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
printf 'title SothebAIs appliance\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=PARTLABEL=root rw console=tty0 console=ttyS0,115200 quiet systemd.show_status=1\n' > "$work/entry.conf"
mcopy -i "$esp" "$work/entry.conf" ::/loader/entries/sothebais.conf
truncate -s "${root_mib}M" "$rootimg"
mkfs.ext4 -q -L root -d "$root" "$rootimg"

total=$(( 1 + esp_mib + root_mib + 1 ))
rm -f "$out"
truncate -s "${total}M" "$out"
sfdisk -q "$out" <<EOF
label: gpt
start=1MiB, size=${esp_mib}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
size=${root_mib}MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root
EOF
dd if="$esp" of="$out" bs=1M seek=1 conv=notrunc status=none
dd if="$rootimg" of="$out" bs=1M seek=$((1 + esp_mib)) conv=notrunc status=none
echo "image: $out ($(( $(stat -c %s "$out") / 1048576 )) MiB; appliance $version)"
