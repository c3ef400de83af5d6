"""Drive a headless Chromium over the DevTools protocol on a pipe (``--remote-debugging-pipe``):
load a page, collect console errors and exceptions, evaluate JavaScript, take a screenshot.

No Python package is needed: the protocol is JSON messages separated by NUL bytes on the
browser's file descriptors 3 (commands in) and 4 (replies and events out).
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium():
    """The path of a Chromium-like browser on PATH, or None."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _high(fd):
    """`fd` moved to a descriptor number of at least 10 (the old one closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """``with Browser(exe, profile_dir) as b: b.load(url); b.evaluate(js); b.screenshot()``."""

    def __init__(self, exe, profile_dir, width=1280, height=900, timeout=60.0):
        self.timeout = timeout
        cmd_r, self._cmd_w = os.pipe()  # we write commands, the browser reads them on fd 3
        self._out_r, out_w = os.pipe()  # the browser writes on fd 4, we read
        # The child's ends move above 9 first, so that wiring them to 3 and 4 clobbers nothing;
        # both are close-on-exec, so only their copies on 3 and 4 reach the browser.
        cmd_r, out_w = (_high(fd) for fd in (cmd_r, out_w))
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--user-data-dir={profile_dir}",
            "--remote-debugging-pipe",
            "about:blank",
        ]

        def wire():  # in the child, before exec: our ends become its fds 3 and 4
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)

        # close_fds=False: fds 3 and 4 must survive; every other fd of ours is close-on-exec.
        self.proc = subprocess.Popen(
            [exe, *flags],
            preexec_fn=wire,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._next_id = 0
        self.events = []
        self.session = None

    # -- protocol ------------------------------------------------------------------------------

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer in time")
            ready, _, _ = select.select([self._out_r], [], [], left)
            if ready:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("the browser closed its DevTools pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=True):
        """Send a command and wait for its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session is not None:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method):
        """Wait for an event of `method` (one already received counts)."""
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read_message(deadline))

    # -- what the tests use --------------------------------------------------------------------

    def load(self, url):
        """Open `url` in a fresh tab with console, log and page events on; wait for load."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, False
        )
        self.session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable")
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def errors(self):
        """Console errors and warnings, uncaught exceptions and error log entries (e.g. a
        resource that failed to load) seen so far, as strings."""
        out = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif method == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                out.append(f"log: {p['entry'].get('text')} ({p['entry'].get('url')})")
        return out

    def evaluate(self, expression):
        """The JSON-able value of a JavaScript expression in the page."""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"].get("text"))
        return res["result"].get("value")

    def screenshot(self, width, height):
        """PNG bytes of the page's top-left `width` x `height` CSS pixels (scale 1)."""
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        res = self.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
        )
        return base64.b64decode(res["data"])

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._out_r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
