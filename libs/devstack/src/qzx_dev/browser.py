"""The real browser for the browser tests and the console benchmark: Debian's `chromium`, driven
by Playwright, and the probe that stamps when each alert's row enters the console's queue."""

from __future__ import annotations

import shutil
from pathlib import Path

# Installs, in a console page that has loaded: ``window.rendered`` (alert id -> epoch ms its row
# was added to the queue, on the page's clock) and ``window.qzxArrivals``, which the console's own
# stream reader fills (alert id -> performance.now() it parsed the alert's event; alerts.js).
ROWS_JS = """() => {
  const now = () => performance.timeOrigin + performance.now();
  window.rendered = {};
  window.qzxArrivals = {};
  new MutationObserver((records) => {
    const at = now();
    for (const r of records) {
      for (const node of r.addedNodes) {
        if (node.nodeType === 1 && node.title && !(node.title in window.rendered)) window.rendered[node.title] = at;
      }
    }
  }).observe(document.querySelector("#alert-list"), { childList: true });
}"""

# Chromium formats <input type=date> in its own UI locale, which is en-US wherever its other
# locales are not installed (Debian's chromium-l10n): this feature makes form controls follow the
# page's <html lang> instead, as a browser set to Chinese renders the console's date inputs.
LAUNCH_ARGS = ["--no-sandbox", "--enable-blink-features=LangAttributeAwareFormControlUI"]


def chromium() -> str | None:
    """The chromium executable (``apt-get install chromium``), or None."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None
