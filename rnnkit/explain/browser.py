"""Render an HTML file in headless Chromium and report what the page said.

Used by the tests (a report must render with no console errors and every embedded image
must decode) and to take the screenshot in the docs. It speaks the Chrome DevTools
Protocol over ``--remote-debugging-pipe`` (fd 3: commands in, fd 4: replies and events,
NUL-separated JSON), so console messages come with their real level and nothing listens
on a network port. Debian's package is ``chromium``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)
IMAGES_OK_JS = (
    "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
    ".filter(ok => !ok).length"
)


def find_chromium() -> str | None:
    """The path of a Chromium / Chrome executable on PATH (``$CHROMIUM`` first), or None."""
    env = os.environ.get("CHROMIUM")
    if env:
        return shutil.which(env) or (env if Path(env).is_file() else None)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    """What rendering a page produced.

    Attributes:
        console: ``(level, text)`` of every console message, log entry and exception.
        errors: the ones at level ``error`` (console.error, failed loads, exceptions).
        broken_images: how many ``<img>`` did not decode.
        title: the document title.
        screenshot: the PNG bytes of the screenshot.
    """

    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    broken_images: int = 0
    title: str = ""
    screenshot: bytes = b""


class _Pipe:
    """A DevTools session over the pipe pair of one Chromium process."""

    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int) -> None:
        self.proc, self.out_fd, self.in_fd = proc, to_browser, from_browser
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self.in_fd], [], [], left)
            if ready:
                chunk = os.read(self.in_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: str | None = None, timeout: float = 30.0, **params):
        """Send one command and wait for its result (events meanwhile are kept)."""
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.out_fd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"chromium: {method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for an event named ``method`` (checking the ones already received)."""
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        deadline = time.monotonic() + timeout
        while True:
            ev = self._read_message(deadline)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev


def _console_entries(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    entries = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            level = "error" if p.get("type") in ("error", "assert") else p.get("type", "log")
            entries.append((level, text))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text", "")
            entries.append(("error", f"uncaught exception: {text}"))
        elif method == "Log.entryAdded":
            e = p["entry"]
            entries.append((e.get("level", "info"), f"{e.get('text', '')} {e.get('url', '')}"))
    return entries


def render_page(
    html_path: str | Path,
    *,
    width: int = 1100,
    height: int = 900,
    full_page: bool = False,
    chromium: str | None = None,
    timeout: float = 60.0,
) -> PageResult:
    """Load ``html_path`` in headless Chromium; collect console messages; screenshot it.

    Args:
        html_path: the local HTML file.
        width, height: the viewport in CSS pixels.
        full_page: screenshot the whole page instead of the first ``height`` pixels.
        chromium: the executable (default: :func:`find_chromium`).
        timeout: seconds for each step before giving up.

    Raises:
        FileNotFoundError: no Chromium found, or ``html_path`` missing.
    """
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no such HTML file: {html_path}")
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found on PATH (Debian: apt-get install chromium)")
    cmd_r, cmd_w = os.pipe()  # we write commands -> chromium reads fd 3
    ev_r, ev_w = os.pipe()  # chromium writes fd 4 -> we read

    with tempfile.TemporaryDirectory(prefix="rnnkit-chromium-") as profile:
        args = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
        # A tiny Python trampoline puts the pipe ends on fds 3 and 4 and execs Chromium
        # (no preexec_fn: forking a process that runs torch's threads is unsafe).
        proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(cmd_r), str(ev_w), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(cmd_r, ev_w),
        )
        os.close(cmd_r)
        os.close(ev_w)
        pipe = _Pipe(proc, cmd_w, ev_r)
        try:
            return _drive(pipe, html_path, width, height, full_page, timeout)
        finally:
            with contextlib.suppress(RuntimeError, TimeoutError, OSError):
                pipe.call("Browser.close", timeout=5.0)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(cmd_w)
            os.close(ev_r)


def _drive(
    pipe: _Pipe, html_path: Path, width: int, height: int, full_page: bool, timeout: float
) -> PageResult:
    target = pipe.call("Target.createTarget", url="about:blank", timeout=timeout)["targetId"]
    session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        pipe.call(f"{domain}.enable", session)
    pipe.call(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    pipe.call("Page.navigate", session, url=html_path.as_uri(), timeout=timeout)
    pipe.wait_event("Page.loadEventFired", timeout=timeout)
    evaluate = pipe.call("Runtime.evaluate", session, expression=IMAGES_OK_JS, returnByValue=True)
    title = pipe.call("Runtime.evaluate", session, expression="document.title", returnByValue=True)
    shot_params: dict[str, Any] = {"format": "png"}
    if full_page:
        size = pipe.call("Page.getLayoutMetrics", session)["cssContentSize"]
        shot_params.update(
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1},
        )
    shot = pipe.call("Page.captureScreenshot", session, timeout=timeout, **shot_params)
    console = _console_entries(pipe.events)
    return PageResult(
        console=console,
        errors=[text for level, text in console if level == "error"],
        broken_images=int(evaluate["result"]["value"]),
        title=str(title["result"]["value"]),
        screenshot=base64.b64decode(shot["data"]),
    )
