"""Headless Chromium for tests: the page as the browser renders it (after its scripts ran), and
screenshots. The Debian package `chromium` is installed by run_tests.sh (scripts/ensure_chromium.sh)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120


def browser() -> str:
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no headless Chromium: run scripts/ensure_chromium.sh (apt-get install chromium)")


def _run(url: str, *flags: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--virtual-time-budget=5000", *flags, url,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def dump_dom(url: str) -> str:
    """The DOM after the page's scripts ran, as HTML."""
    return _run(url, "--dump-dom").stdout


def screenshot(url: str, path: Path, size: tuple[int, int] = (1400, 2400)) -> Path:
    _run(url, "--hide-scrollbars", f"--window-size={size[0]},{size[1]}", f"--screenshot={path}")
    return path


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Descendants with this tag (any if None) whose attributes hold these values (class: one of)."""
        found = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                value in child.attrs.get(key.rstrip("_"), "").split()
                if key.rstrip("_") == "class"
                else child.attrs.get(key.rstrip("_").replace("_", "-")) == value
                for key, value in attrs.items()
            ):
                found.append(child)
            found.extend(child.find_all(tag, **attrs))
        return found

    def by_id(self, element_id: str) -> Element:
        (found,) = self.find_all(id=element_id)
        return found

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(Element("#text", {}, data))


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    return builder.root
