"""Drive headless Chromium through its DevTools protocol (one websocket, the `websockets` package):
open a page, evaluate script in it, click with real mouse events, and let it download files.
tests/support/browser.py covers what --dump-dom and --screenshot can; this is for pages that need a
person's clicks."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from websockets.sync.client import connect

from support.browser import browser

START_TIMEOUT_S = 60
CALL_TIMEOUT_S = 60


class DevToolsError(AssertionError):
    pass


class Page:
    """One tab, attached over the browser's websocket (flattened sessions)."""

    def __init__(self, socket, session: str) -> None:
        self._socket = socket
        self._session = session
        self._next = 0

    def call(self, method: str, session: bool = True, **params) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while True:
            reply = json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str):
        """The value of a script expression in the page (JSON-like values)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 30.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise DevToolsError(f"timed out waiting for {expression}")

    def click(self, element: str) -> None:
        """A real left click (mouse pressed and released) at the middle of the element that the script
        expression `element` gives, scrolled into view first."""
        box = self.evaluate(
            f"(function () {{ var e = {element}; e.scrollIntoView({{block: 'center'}});"
            " var r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


@contextmanager
def open_page(
    url: str, downloads: Path | None = None, size: tuple[int, int] = (1400, 1000)
) -> Iterator[Page]:
    """`url` open in a fresh headless Chromium; downloads (if a folder is given) are saved there."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--remote-debugging-port=0", f"--window-size={size[0]},{size[1]}",
            "about:blank",
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            active = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (active.exists() and len(active.read_text().splitlines()) >= 2):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise DevToolsError("Chromium did not open its DevTools port")
                time.sleep(0.05)
            port, path = active.read_text().splitlines()[:2]
            with connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as socket:
                page = Page(socket, "")
                if downloads is not None:
                    page.call(
                        "Browser.setDownloadBehavior",
                        session=False,
                        behavior="allow",
                        downloadPath=str(downloads),
                    )
                target = page.call("Target.createTarget", session=False, url=url)["targetId"]
                attached = page.call("Target.attachToTarget", session=False, targetId=target, flatten=True)
                page = Page(socket, attached["sessionId"])
                # The new tab's first document is an empty about:blank, already "complete".
                page.wait_for("location.href !== 'about:blank' && document.readyState === 'complete'")
                yield page
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
