# exiftool, the XMP reader the cull tests check sidecars with (tests/test_cull_xmp.py); source it, don't
# run it. Installs Debian's `libimage-exiftool-perl` when no exiftool is on PATH (CI is a fresh Debian
# machine, as root). Elsewhere it says what to install; the sidecar tests then fail with that hint.
if ! command -v exiftool >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        echo "setup: installing exiftool (Debian package libimage-exiftool-perl) for the sidecar tests"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl >/dev/null
    else
        echo "setup: no exiftool found; install it (Debian/Ubuntu: apt-get install libimage-exiftool-perl)" >&2
    fi
fi
