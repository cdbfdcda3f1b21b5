#!/usr/bin/env bash
# More sharp source photos for training, from two Debian wallpaper packages: 23 photographs (landscapes,
# macros with a sharp subject, textures, rooms, a plain wood board) unlike the phone photos in
# ../shared/data. The drawings and gradients in those packages are left out: they are not photos.
#
#   training/debian_photos.sh DIR      # then: python -m training.train ... --photos DIR
#
# Needs apt-get (Debian or Ubuntu) and reaches only the Debian package mirror. The files stay outside
# the repository (read by path, as ../shared/data is). Licences: mate-backgrounds GPL-2+,
# lomiri-wallpapers-16.04 see its debian/copyright (both printed into DIR/COPYRIGHT-*).
set -euo pipefail
out="${1:?usage: training/debian_photos.sh DIR}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod a+rwx "$work"  # apt-get download runs as the _apt user where it can
mkdir -p "$out"
(cd "$work" && apt-get download mate-backgrounds lomiri-wallpapers-16.04 >/dev/null)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done

lomiri="$work/root/usr/share/backgrounds"
mate="$work/root/usr/share/backgrounds/mate/nature"
for name in Bridge_by_Sander_Klootwijk Picture_0B_by_freespace Picture_1A_by_freespace Wine_by_Jakkub_Mede \
    aitzgorri_by_Aitzol_Berasategi analogpattern_by_Peter_Nerlich free_by_Peter_Nerlich \
    friends_by_Aitzol_Berasategi greentock_by_Peter_Nerlich life_by_Aitzol_Berasategi \
    picosdeeuropa_by_Aitzol_Berasategi sunset_by_Aitzol_Berasategi; do
    cp "$lomiri/$name.jpg" "$out/"
done
for name in Aqua Blinds Dune FreshFlower Garden GreenMeadow LadyBird RainDrops Storm Wood YellowFlower; do
    cp "$mate/$name.jpg" "$out/"
done
cp "$work/root/usr/share/doc/mate-backgrounds/copyright" "$out/COPYRIGHT-mate-backgrounds"
cp "$work/root/usr/share/doc/lomiri-wallpapers-16.04/copyright" "$out/COPYRIGHT-lomiri-wallpapers-16.04"
echo "$(ls "$out"/*.jpg | wc -l) photos in $out"
