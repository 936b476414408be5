"""Starts real p2p-peer processes on loopback for the integration tests and talks to them.

Ports are 0 in every config; the peer logs the ports it got and this module reads them.
P2P_TEST_THREADS=N runs every peer with `threads: N` unless a test sets threads itself.

A test waits for what it depends on, with a bound, never for a fixed time: a file it
wrote is searchable once wait_listed() sees it; a log line is there once wait_log() has it.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

BUILD = os.environ.get("P2P_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PEER_BIN = os.path.join(BUILD, "p2p-peer")
CLI_BIN = os.path.join(BUILD, "p2p")

_SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|runtime error:")
_LISTEN = re.compile(r"(REST|gRPC) server listening on (\S+):(\d+)$")


class Peer:
    """One p2p-peer process with its own temporary shared folder."""

    def __init__(self, name="peer", files=None, extra=None, directory=None, as_nobody=False,
                 wrapper=()):
        self.tmp = tempfile.mkdtemp(prefix="p2p-it-")
        self.dir = directory or os.path.join(self.tmp, "share")
        os.makedirs(self.dir, exist_ok=True)
        for fname, data in (files or {}).items():
            with open(os.path.join(self.dir, fname), "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
        # The hash cache of each peer stays in its own temporary folder (and so survives
        # a restart of the same Peer).
        # The DHT is off unless a test turns it on (test_dht.py): the other tests check the
        # titular/suplente walk, which the DHT would otherwise answer first.
        cfg = {"ip": "127.0.0.1", "rest_port": 0, "grpc_port": 0, "directory": self.dir, "name": name,
               "state_dir": os.path.join(self.tmp, "state"), "dht": False, "dht_port": 0}
        cfg.update(test_threads())
        cfg.update(extra or {})
        self.config = os.path.join(self.tmp, name + ".json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.name = name
        self.as_nobody = as_nobody
        self.wrapper = list(wrapper)  # a program the peer runs under (e.g. deny_syscall)
        self.lines = []
        self._reported = False  # a sanitizer report in `lines` failed a test already
        self.proc = None
        self.rest_port = self.grpc_port = None

    def start(self, timeout=10):
        self.rest_port = self.grpc_port = None  # a restarted peer gets new ports
        cmd = self.wrapper + [PEER_BIN, "--config", self.config]
        if self.as_nobody:
            # Root reads every file; as nobody, file permissions apply again.
            for d in (self.tmp, self.dir):
                os.chmod(d, 0o777)
            os.chmod(self.config, 0o644)
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                line = line.rstrip("\n")
                self.lines.append(line)
                m = _LISTEN.search(line)
                if m:
                    if m.group(1) == "REST":
                        self.rest_port = int(m.group(3))
                    else:
                        self.grpc_port = int(m.group(3))
                if self.rest_port and (self.grpc_port or "gRPC" not in self.expects()):
                    ready.set()
            ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        if not ready.wait(timeout) or self.rest_port is None:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {self.lines}")
        return self

    def expects(self):
        # The gRPC server line is awaited once the binary has one.
        return "REST gRPC" if _has_grpc() else "REST"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.rest_port}"

    def get(self, path, timeout=5):
        """(status, parsed JSON body) of GET path."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def write(self, fname, data):
        with open(os.path.join(self.dir, fname), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.proc.stderr.closed:
            self._pump.join(2)
            self.proc.stderr.close()
        self.check_sanitizer()
        return self.proc.returncode

    def check_sanitizer(self):
        """Fails the test when the peer's log has an ASan or UBSan report (TSan's are kept by
        scripts/test): one at exit would otherwise go unseen by a test that checks no exit
        status. Once: the report is not raised again from a later stop()."""
        if self._reported:
            return
        i = next((i for i, line in enumerate(self.lines) if _SANITIZER_REPORT.search(line)), None)
        if i is None:
            return
        self._reported = True
        raise AssertionError(f"{self.name}: sanitizer report:\n" + "\n".join(self.lines[i:i + 60]))

    def tail(self, n=40):
        """The last `n` lines the peer logged (all of them, once it has exited), for a
        failure's message: a sanitizer's report, say."""
        if self.proc and self.proc.poll() is not None:
            self._pump.join(5)
        return "\n".join(self.lines[-n:])

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def cleanup_all(peers):
    """Cleans up every one of `peers`, then raises the first failure (a sanitizer report),
    so that one peer's report does not leave the others running."""
    first = None
    for p in peers:
        try:
            p.cleanup()
        except Exception as e:  # noqa: BLE001 -- raised again below, once all are stopped
            first = first or e
    if first:
        raise first


def test_threads():
    """{"threads": N} when P2P_TEST_THREADS asks for N io_context threads, else {}."""
    n = os.environ.get("P2P_TEST_THREADS")
    return {"threads": int(n)} if n else {}


def listed(peer):
    """The names in the peer's /listado."""
    return {f["name"] for f in peer.get("/listado")[1]}


def wait_listed(peer, *names, timeout=10):
    """Whether the peer lists every one of `names` within `timeout` s. A file written into
    a running peer's folder is indexed once its watcher has settled (50 ms), not at once."""
    return wait_until(lambda: set(names) <= listed(peer), timeout=timeout)


def _proc_kb(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid):
    """The resident set of process `pid` in kB (0 once it is gone): every page it maps,
    the shared libraries' code included."""
    return _proc_kb(f"/proc/{pid}/status", "VmRSS")


def pss_kb(pid):
    """The proportional set of process `pid` in kB (0 once it is gone): its own pages, and
    its share of those it maps with other processes (N peers share one copy of the
    libraries' code). Summed over processes, what they cost the host."""
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss")


def metrics(peer, *series):
    """The values of these series (name and labels, as /metrics prints them), from one scrape."""
    with urllib.request.urlopen(peer.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    values = []
    for one in series:
        m = re.search("^" + re.escape(one) + r" (\S+)$", text, re.M)
        assert m, f"{one} not in /metrics"
        values.append(float(m.group(1)))
    return values


def metric(peer, series):
    """The value of one series (name and labels, as /metrics prints them) of the peer's metrics."""
    return metrics(peer, series)[0]


def wait_log(peer, pattern, count=1, timeout=10):
    """The peer's log lines containing `pattern` (a str; or a compiled regex, searched), once
    there are at least `count` of them, or those seen when `timeout` s pass. Lines are read
    from the peer's stderr by another thread: one logged before an answer may arrive after."""
    match = pattern.search if isinstance(pattern, re.Pattern) else (lambda line: pattern in line)
    found = lambda: [line for line in list(peer.lines) if match(line)]
    wait_until(lambda: len(found()) >= count, timeout=timeout)
    return found()


def _has_grpc():
    return os.environ.get("P2P_HAS_GRPC", "1") == "1"


def raw_exchange(port, data, timeout=5.0, expect_close=True):
    """Sends raw bytes on a new connection and returns everything read until close/timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
            if not expect_close:
                break
        return b"".join(chunks)
    finally:
        s.close()


def split_responses(raw):
    """Splits concatenated HTTP responses into (status, headers dict, body bytes)."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        raw = rest[n:]
    return out


class DelayProxy:
    """A TCP proxy on loopback that holds every byte `delay` seconds in each direction, in
    order, with no limit on what it holds: a long path (round trip 2 x delay) for the tests
    of what a sender may have in flight, without netem. An end of stream is passed on as a
    half-close; each connection is closed once both directions ended (or one failed). Use
    as a context manager; `port` is where to connect. It notes when the bytes of each
    direction came ("up": from the clients, "down": from the target), for carried()."""

    def __init__(self, target_port, delay):
        self.target_port, self.delay = target_port, delay
        self.port = None
        self._ready = threading.Event()
        self._failed = None
        self._lock = threading.Lock()
        self._came = {"up": [], "down": []}  # (when, bytes so far), since reset()

    def reset(self):
        with self._lock:
            self._came = {"up": [], "down": []}

    def carried(self, direction, nbytes):
        """Seconds from the first byte that came in `direction` (since reset()) until
        `nbytes` in all had come; None if they did not. A sender whose window is W bytes
        cannot hand over more than W per round trip, however fast or slow the machine."""
        with self._lock:
            came = list(self._came[direction])
        reached = next((t for t, total in came if total >= nbytes), None)
        return None if reached is None else reached - came[0][0]

    def _note(self, direction, when, n):
        with self._lock:
            came = self._came[direction]
            came.append((when, (came[-1][1] if came else 0) + n))

    async def _pump(self, reader, writer, direction):
        queue = asyncio.Queue()

        async def send():
            while True:
                at, data = await queue.get()
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                wait = at + self.delay - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        try:
            while not sender.done() and (data := await reader.read(1 << 20)):
                now = time.monotonic()
                self._note(direction, now, len(data))
                queue.put_nowait((now, data))
        finally:
            queue.put_nowait((0, None))
            await sender

    async def _connect(self, client_r, client_w):
        server_w = None
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(self._pump(client_r, server_w, "up"),
                                 self._pump(server_r, client_w, "down"))
        except (OSError, asyncio.CancelledError):
            pass  # a side went away: both are closed below, which the other side sees
        finally:
            for w in (client_w, server_w):
                if w is not None:
                    w.close()

    def _run(self):
        self._loop = asyncio.new_event_loop()
        try:
            server = self._loop.run_until_complete(
                asyncio.start_server(self._connect, "127.0.0.1", 0))
        except OSError as e:
            self._failed = e
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        if pending:  # gather() of nothing asks for this thread's loop, which there is not
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._failed:
            raise RuntimeError(f"the delay proxy did not start: {self._failed}")
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def built_without_dht(peer):
    """Whether the started `peer` said it was built with -Ddht=disabled. It says so before
    its listening lines, which start() waited for: no need to wait here."""
    return any("built without it" in line for line in list(peer.lines))


def exit_if_built_without_dht(what):
    """For a file whose every test needs the DHT: exits 77 (meson's skip, which scripts/test
    reports with this reason) when p2p-peer was built without it."""
    probe = Peer("probe", extra={"dht": True}).start()
    try:
        without = built_without_dht(probe)
    finally:
        probe.cleanup()
    if without:
        print(f"SKIP {what}: this p2p-peer was built without the DHT (meson -Ddht=disabled)")
        raise SystemExit(77)


def skip_without_dht(peer):
    """A p2p-peer built with -Ddht=disabled says so at start and runs no node."""
    if built_without_dht(peer):
        raise unittest.SkipTest("this p2p-peer was built without the DHT (meson -Ddht=disabled)")


def wait_until(pred, timeout=3.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
