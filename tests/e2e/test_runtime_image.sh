#!/usr/bin/env bash
# test_runtime_image.sh: scripts/make-busybox-image.sh builds a usable rootfs
# (busybox + applet links, no "busybox" self-link, dirs, /etc/passwd) and is
# idempotent: a second run changes nothing and fails on nothing.
source "$(dirname "$0")/lib.sh"

sh "$SRC/scripts/make-busybox-image.sh" "$T/img" || fail "first run"
R="$T/img/busybox"
[ -x "$R/bin/busybox" ] && [ ! -L "$R/bin/busybox" ] || fail "bin/busybox missing or a link"
[ "$(readlink "$R/bin/sh")" = busybox ] || fail "bin/sh is not a link to busybox"
for d in proc dev tmp etc sys root; do [ -d "$R/$d" ] || fail "no /$d"; done
grep -q '^root:x:0:0:' "$R/etc/passwd" || fail "no root in etc/passwd"
want=$(( $(/bin/busybox --list | grep -cvx busybox) + 1 ))
[ "$(ls "$R/bin" | wc -l)" -eq "$want" ] || fail "expected $want entries in bin/"
pass "image built"

before=$(cd "$R" && find . -printf '%p %y %l\n' | sort | md5sum)
sh "$SRC/scripts/make-busybox-image.sh" "$T/img" || fail "second run"
after=$(cd "$R" && find . -printf '%p %y %l\n' | sort | md5sum)
[ "$before" = "$after" ] || fail "second run changed the tree"
pass "idempotent"

if [ "$(id -u)" -eq 0 ]; then
  [ "$(chroot "$R" /bin/sh -c 'echo $((6*7))')" = 42 ] || fail "sh does not run in the image"
  pass "runs under chroot"
else
  echo "SKIP: chroot check needs root"
fi
