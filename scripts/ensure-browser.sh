#!/usr/bin/env bash
# Install Debian's chromium for the console's browser tests when it is missing (Playwright
# drives /usr/bin/chromium; it never downloads a browser of its own). Where it cannot be
# installed the browser tests skip loudly; under CI=true they fail.
set -u
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-browser: installing Debian's chromium for the console browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "!!! ensure-browser: /usr/bin/chromium is NOT available; the console browser test will be skipped" >&2
fi
exit 0
