"""Helpers for tests that drive the real app in Debian's chromium with playwright.

`AppServer` starts `streamlit run app.py` on a free local port; `browser` launches chromium;
`settle` waits until a script run has finished; `WireMeter` counts the websocket messages and
bytes the server sends, so refresh rate and bytes per refresh are measured, not guessed.
Without chromium the tests skip, unless RNNVIZ_REQUIRE_BROWSER=1 (as in CI) makes that a failure.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("RNNVIZ_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` on 127.0.0.1, stopped on close(); env adds environment variables."""

    def __init__(self, log_path: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1).read() == b"ok":
                    return
            except OSError:
                time.sleep(0.3)
        self.close()
        raise RuntimeError(f"the app did not start; see {log_path}")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def settle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the app is connected, the page has drawn something, and no script run is in progress. (Right
    after connecting, before its first run starts, a page also reads "not running".)"""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout_ms)
    page.wait_for_selector("[data-testid='stMain'] [data-testid='stElementContainer']", timeout=timeout_ms)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)


def no_exceptions(page) -> list[str]:
    """Texts of Streamlit exception boxes on the page (empty when all is well)."""
    return page.locator("[data-testid='stException']").all_inner_texts()


class WireMeter:
    """Counts what the server sends a page over its websocket: finished script runs (full or fragment
    reruns, i.e. refreshes) and bytes. Attach before the page navigates."""

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._parse = ForwardMsg.FromString
        self.events: list[tuple[float, int, bool]] = []  # (time, bytes, is a finished run)
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        data = payload if isinstance(payload, bytes) else payload.encode()
        try:
            finished = self._parse(data).WhichOneof("type") == "script_finished"
        except Exception:  # noqa: BLE001 -- a frame that is not a ForwardMsg counts as bytes only
            finished = False
        self.events.append((time.monotonic(), len(data), finished))

    def window(self, start: float, end: float) -> tuple[float, float]:
        """(refreshes per second, bytes per refresh) between two monotonic times."""
        inside = [e for e in self.events if start <= e[0] <= end]
        refreshes = sum(1 for e in inside if e[2])
        total = sum(e[1] for e in inside)
        return refreshes / (end - start), total / max(1, refreshes)
