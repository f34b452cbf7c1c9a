#!/bin/sh
# make-busybox-image.sh DIR: builds DIR/busybox/, a minimal root filesystem for
# Berth containers, from Debian's busybox-static (/bin/busybox): the static
# binary, one symlink per applet (except "busybox" itself), the usual empty
# directories and a minimal /etc/passwd and /etc/group. Idempotent: running it
# again refreshes the binary and adds missing links without touching the rest.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
BB=${BUSYBOX:-/bin/busybox}
if [ ! -x "$BB" ]; then
    echo "$0: $BB not found (apt-get install busybox-static)" >&2
    exit 1
fi
ROOT=$1/busybox
mkdir -p "$ROOT/bin" "$ROOT/proc" "$ROOT/dev" "$ROOT/sys" "$ROOT/etc" "$ROOT/root"
mkdir -p "$ROOT/tmp" "$ROOT/var/tmp"
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
chmod 700 "$ROOT/root"

# Replace the binary atomically so a running container never sees half a file.
cp "$BB" "$ROOT/bin/.busybox.new"
chmod 755 "$ROOT/bin/.busybox.new"
mv -f "$ROOT/bin/.busybox.new" "$ROOT/bin/busybox"

for applet in $("$BB" --list); do
    [ "$applet" = busybox ] && continue
    [ -e "$ROOT/bin/$applet" ] || [ -L "$ROOT/bin/$applet" ] || ln -s busybox "$ROOT/bin/$applet"
done

[ -f "$ROOT/etc/passwd" ] || cat > "$ROOT/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
[ -f "$ROOT/etc/group" ] || cat > "$ROOT/etc/group" <<'GR'
root:x:0:
nogroup:x:65534:
GR
[ -f "$ROOT/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n' > "$ROOT/etc/hosts"
exit 0
