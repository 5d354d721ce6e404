#!/usr/bin/env python3
"""The corio-jobs dashboard in a real browser (ctest: jobs_dashboard_browser).

Starts the real corio-jobs (CORIO_JOBS_BIN) with --admin-token, submits jobs
over HTTP, and drives headless Chromium (Debian's `chromium`) through the
DevTools protocol on --remote-debugging-pipe (fds 3 and 4, NUL-separated
JSON: no WebSocket, nothing from PyPI). It checks, on the page as its own
JavaScript left it:
  - the list shows every submitted job, and the counts add up;
  - the status filter narrows the list;
  - a job's detail opens on a click;
  - Cancel without the token is refused (the page says so) and the job
    still runs; with the token typed into the page, Cancel cancels it
    (the API agrees), and Retry queues it again.
Over plain HTTP it also checks that the configured token is required
(401 without it or with a wrong one).

Exits 77 (skipped) without chromium. Every wait is bounded; the whole run
is bounded by an alarm.
"""
import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TOKEN = "dash-test-token-1234"
LIMIT = 100.0  # seconds for the whole test (ctest's timeout is 120)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def find_chromium():
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Server:
    def __init__(self, binary, tmp):
        self.log = open(os.path.join(tmp, "server.log"), "w+")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--db",
             os.path.join(tmp, "jobs.db"), "--workers", "2", "--grace", "1",
             "--admin-token", TOKEN],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + 20
        self.base = None
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                line = self.proc.stdout.readline()
                if not line:
                    break
                m = re.search(r"listening on (http://[0-9.]+:[0-9]+)", line)
                if m:
                    self.base = m.group(1)
                    break
        if not self.base:
            fail("corio-jobs did not start")

    def call(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class Browser:
    """Chromium with the DevTools protocol on a pipe: we write commands to
    its fd 3 and read answers and events from its fd 4."""

    def __init__(self, exe, tmp):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds():
            # Out of the way first: either end may itself be fd 3 or 4.
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", "--window-size=1200,800",
             "--user-data-dir=" + os.path.join(tmp, "profile"), "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4),  # kept open after preexec_fn
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "chromium.log"), "w"))
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, session=True, timeout=15.0):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                m = json.loads(raw)
                if m.get("id") == self.next_id:
                    if "error" in m:
                        fail("%s: %s" % (method, m["error"]))
                    return m.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0:
                fail("chromium did not answer " + method)
            r, _, _ = select.select([self.from_child], [], [], left)
            if r:
                chunk = os.read(self.from_child, 65536)
                if not chunk:
                    fail("chromium closed the pipe (see chromium.log)")
                self.buf += chunk

    def open(self, url):
        t = self.send("Target.createTarget", {"url": url}, session=False)
        a = self.send("Target.attachToTarget",
                      {"targetId": t["targetId"], "flatten": True},
                      session=False)
        self.session = a["sessionId"]

    def js(self, expr):
        r = self.send("Runtime.evaluate",
                      {"expression": expr, "returnByValue": True,
                       "awaitPromise": True})
        if "exceptionDetails" in r:
            fail("page script failed: %s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, what, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.1)
        fail("timed out waiting for " + what)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.to_child)
        os.close(self.from_child)


ROW_IDS = "[...document.querySelectorAll('#jobs tr[data-id]')].map(r => r.dataset.id)"


def main():
    exe = find_chromium()
    if not exe:
        print("SKIP: no chromium (scripts/deps.sh core installs it)")
        return 77
    binary = os.environ.get("CORIO_JOBS_BIN")
    if not binary or not os.access(binary, os.X_OK):
        print("SKIP: CORIO_JOBS_BIN is not set to the corio-jobs binary")
        return 77
    signal.signal(signal.SIGALRM, lambda *a: fail("the test ran over %g s" % LIMIT))
    signal.alarm(int(LIMIT))

    tmp = tempfile.mkdtemp(prefix="corio-dash-")
    srv = Server(binary, tmp)
    browser = None
    try:
        # Two workers: a quick job, then two long sleeps run and the third
        # waits.
        ids = []
        for body in ({"type": "sleep", "seconds": 0},
                     {"type": "sleep", "seconds": 300},
                     {"type": "sleep", "seconds": 300},
                     {"type": "sleep", "seconds": 300, "queue": "later"}):
            st, o = srv.call("POST", "/jobs", body)
            if st != 202:
                fail("POST /jobs: %d %s" % (st, o))
            ids.append(o["id"])
        quick_id, long_id = ids[0], ids[1]

        # The token is required (end to end, over HTTP).
        st, o = srv.call("DELETE", "/jobs/" + long_id)
        if st != 401:
            fail("DELETE without the token: %d %s" % (st, o))
        st, _ = srv.call("POST", "/jobs/%s/retry" % long_id, token="wrong-token-0000")
        if st != 401:
            fail("retry with a wrong token: %d" % st)
        st, o = srv.call("GET", "/counts")
        if st != 200 or sum(o["by_status"].values()) != 4:
            fail("GET /counts: %d %s" % (st, o))

        browser = Browser(exe, tmp)
        browser.open(srv.base + "/")
        browser.wait("document.title === 'corio-jobs' && "
                     "Number(document.body.dataset.refreshes || 0) > 0",
                     "the page's first refresh")
        # Every submitted job is listed (the quick one succeeds meanwhile).
        browser.wait("(%s).length === 4 && %s.every(id => (%s).includes(id))"
                     % (ROW_IDS, json.dumps(ids), ROW_IDS), "the four jobs in the list")
        browser.wait("document.querySelector('#jobs tr[data-id=\"%s\"]')"
                     ".dataset.status === 'succeeded'" % quick_id,
                     "the quick job shown succeeded")
        total = browser.js("document.querySelector('#counts [data-status=\"\"] b')"
                           ".textContent")
        if total != "4":
            fail("the 'all' count shows %r" % total)
        queues = browser.js("[...document.querySelectorAll('#queues td')]"
                            ".map(td => td.textContent).join(' ')")
        if "later" not in queues or "default" not in queues:
            fail("the queue table shows %r" % queues)

        # The filter: only the succeeded job.
        browser.js("(() => { const f = document.getElementById('filter');"
                   " f.value = 'succeeded'; f.dispatchEvent(new Event('change'));"
                   " return 1; })()")
        browser.wait("JSON.stringify(%s) === JSON.stringify([%s])"
                     % (ROW_IDS, json.dumps(quick_id)), "the filtered list")
        browser.js("(() => { const f = document.getElementById('filter');"
                   " f.value = ''; f.dispatchEvent(new Event('change')); return 1; })()")
        browser.wait("(%s).length === 4" % ROW_IDS, "the unfiltered list again")

        # The detail of a running job.
        browser.wait("document.querySelector('#jobs tr[data-id=\"%s\"]')"
                     ".dataset.status === 'running'" % long_id, "the long job running")
        browser.js("document.querySelector('#jobs tr[data-id=\"%s\"]').click(), 1" % long_id)
        browser.wait("document.getElementById('detail').dataset.id === '%s' && "
                     "!document.getElementById('cancel').disabled" % long_id,
                     "the job's detail")
        spec = browser.js("document.getElementById('spec').textContent")
        if '"seconds": 300' not in spec:
            fail("the detail's spec shows %r" % spec)

        # Cancel without the token: refused, and the page says why.
        browser.js("document.getElementById('cancel').click(), 1")
        browser.wait("document.getElementById('msg').textContent.includes('admin token')",
                     "the page asking for the token")
        st, o = srv.call("GET", "/jobs/" + long_id)
        if o["status"] != "running":
            fail("cancel without the token changed the job: %s" % o["status"])

        # With the token typed in: cancelled.
        browser.js("(() => { document.getElementById('token').value = %s;"
                   " document.getElementById('token-save').click(); return 1; })()"
                   % json.dumps(TOKEN))
        browser.js("document.getElementById('cancel').click(), 1")
        browser.wait("document.getElementById('detail').dataset.status === 'cancelled'",
                     "the detail showing cancelled")
        st, o = srv.call("GET", "/jobs/" + long_id)
        if o["status"] != "cancelled":
            fail("after Cancel the API says %s" % o["status"])
        browser.wait("document.querySelector('#jobs tr[data-id=\"%s\"]')"
                     ".dataset.status === 'cancelled'" % long_id,
                     "the list showing it cancelled")

        # Retry: queued again.
        browser.wait("!document.getElementById('retry').disabled", "Retry enabled")
        browser.js("document.getElementById('retry').click(), 1")
        browser.wait("['created', 'running'].includes("
                     "document.getElementById('detail').dataset.status)",
                     "the detail showing it queued again")
        st, o = srv.call("GET", "/jobs/" + long_id)
        if o["status"] not in ("created", "running"):
            fail("after Retry the API says %s" % o["status"])
        print("ok: list, counts, filter, detail, cancel (token), retry")
        return 0
    finally:
        if browser:
            browser.close()
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
