# Headless Chromium for the review page's tests (tests/browser.py); source it, don't run it.
# Installs Debian's `chromium` package when no Chromium is on PATH (CI is a fresh Debian machine, as
# root). Elsewhere it says what to install; the tests that need the browser then fail with that hint.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
    && ! command -v google-chrome >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        echo "setup: installing chromium (Debian package) for the review page's tests"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup: no chromium found; install it (Debian/Ubuntu: apt-get install chromium)" >&2
    fi
fi
