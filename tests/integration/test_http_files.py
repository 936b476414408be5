"""GET, HEAD and PUT /archivos/NAME on real peers, through clients we did not write: curl
(whole files, ranges at every edge, resume after an interrupted transfer, conditional
requests, uploads), wget (resume), aria2c (one file from three peers at once, checked
against its sha256), and raw sockets for what those tools will not send."""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import Peer, listed, metric, rss_kb, wait_log, wait_until  # noqa: E402

MIB = 1024 * 1024
PIECE = MIB  # the peers' piece_size (the default)


def pattern(n, seed):
    """n bytes that differ at every offset, so a byte out of place shows."""
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(block + i.to_bytes(4, "big")).digest() + block[: 65536 - 32]
        i += 1
    return bytes(out[:n])


def curl(*args, timeout=120):
    """curl's completed process (stdout bytes); a non-zero exit is the caller's to check."""
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)


def headers_of(text):
    """The last response's headers of `curl -D -` output, lowercased names."""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.startswith("HTTP/")]
    lines = blocks[-1].split("\n")
    status = int(lines[0].split()[1])
    return status, {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}


def wait_hashed(peer, name, timeout=30):
    ok = wait_until(lambda: any(f["name"] == name and f.get("sha256") for f in peer.get("/listado")[1]),
                    timeout)
    assert ok, f"{name} was not hashed within {timeout} s"


class Downloads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = pattern(2 * PIECE + 12345, "big")
        # Large enough not to fit in the sockets' buffers at once: a slow client gets part of it.
        cls.long = pattern(24 * MIB, "long")
        cls.peer = Peer("Files", files={"big.bin": cls.data, "long.bin": cls.long, "hola.txt": "hola mundo\n",
                                        "vacío.txt": b"", "ñandú & co.txt": "x"}).start()
        # Something beside the share that no request may reach.
        cls.outside = os.path.join(cls.peer.tmp, "secret.txt")
        with open(cls.outside, "w") as f:
            f.write("not shared")
        wait_hashed(cls.peer, "big.bin")
        cls.base = cls.peer.url + "/archivos/"
        cls.out = tempfile.mkdtemp(prefix="p2p-http-")

    @classmethod
    def tearDownClass(cls):
        cls.peer.cleanup()
        subprocess.run(["rm", "-rf", cls.out])

    def url(self, name):
        return self.base + urllib.parse.quote(name, safe="")

    def test_whole_file_is_byte_exact_with_its_headers(self):
        r = curl("-D", "-", "-o", os.path.join(self.out, "whole"), self.url("big.bin"))
        self.assertEqual(r.returncode, 0, r.stderr)
        status, h = headers_of(r.stdout.decode())
        self.assertEqual(status, 200)
        with open(os.path.join(self.out, "whole"), "rb") as f:
            self.assertEqual(f.read(), self.data)
        self.assertEqual(int(h["content-length"]), len(self.data))
        self.assertEqual(h["accept-ranges"], "bytes")
        self.assertEqual(h["etag"], '"' + hashlib.sha256(self.data).hexdigest() + '"')
        self.assertEqual(h["content-type"], "application/octet-stream")
        self.assertIn("attachment", h["content-disposition"])
        self.assertIn("last-modified", h)
        self.assertEqual(h["x-content-type-options"], "nosniff")

    def test_ranges_at_every_edge_are_byte_exact(self):
        n = len(self.data)
        cases = [(0, 0), (1, 1), (0, PIECE - 1), (PIECE - 1, PIECE), (PIECE, 2 * PIECE - 1),
                 (2 * PIECE - 1, n - 1), (n - 1, n - 1), (5, None), (n - 10, n + 100)]
        for first, last in cases:
            spec = f"{first}-" + ("" if last is None else str(last))
            with self.subTest(range=spec):
                r = curl("-D", "-", "-o", os.path.join(self.out, "part"), "-r", spec, self.url("big.bin"))
                self.assertEqual(r.returncode, 0, r.stderr)
                status, h = headers_of(r.stdout.decode())
                self.assertEqual(status, 206)
                end = n - 1 if last is None else min(last, n - 1)
                self.assertEqual(h["content-range"], f"bytes {first}-{end}/{n}")
                with open(os.path.join(self.out, "part"), "rb") as f:
                    self.assertEqual(f.read(), self.data[first:end + 1])
        # The last 100 bytes.
        r = curl("-r", "-100", self.url("big.bin"))
        self.assertEqual(r.stdout, self.data[-100:])

    def test_unsatisfiable_ranges_are_416_and_several_ranges_get_the_whole_file(self):
        n = len(self.data)
        for spec in (f"{n}-", f"{n + 5}-{n + 10}", "-0"):
            with self.subTest(range=spec):
                r = curl("-D", "-", "-o", "/dev/null", "-H", f"Range: bytes={spec}", self.url("big.bin"))
                status, h = headers_of(r.stdout.decode())
                self.assertEqual(status, 416)
                self.assertEqual(h["content-range"], f"bytes */{n}")
        r = curl("-D", "-", "-o", os.path.join(self.out, "multi"), "-r", "0-1,5-9", self.url("big.bin"))
        status, _ = headers_of(r.stdout.decode())
        self.assertEqual(status, 200)
        with open(os.path.join(self.out, "multi"), "rb") as f:
            self.assertEqual(f.read(), self.data)
        # Not a byte range we understand: ignored, as RFC 9110 allows.
        r = curl("-D", "-", "-o", "/dev/null", "-H", "Range: lines=1-2", self.url("hola.txt"))
        self.assertEqual(headers_of(r.stdout.decode())[0], 200)

    def test_conditional_requests(self):
        etag = '"' + hashlib.sha256(self.data).hexdigest() + '"'
        r = curl("-D", "-", "-o", "/dev/null", "-H", f"If-None-Match: {etag}", self.url("big.bin"))
        status, h = headers_of(r.stdout.decode())
        self.assertEqual(status, 304)
        self.assertEqual(h["etag"], etag)
        self.assertNotIn("content-length", h)
        r = curl("-D", "-", "-o", "/dev/null", "-H", 'If-None-Match: "other", ' + etag, self.url("big.bin"))
        self.assertEqual(headers_of(r.stdout.decode())[0], 304)
        r = curl("-D", "-", "-o", "/dev/null", "-H", 'If-None-Match: "other"', self.url("big.bin"))
        self.assertEqual(headers_of(r.stdout.decode())[0], 200)
        # If-Range: the range only for the version the client has.
        r = curl("-D", "-", "-o", os.path.join(self.out, "ir"), "-r", "0-9", "-H", f"If-Range: {etag}",
                 self.url("big.bin"))
        self.assertEqual(headers_of(r.stdout.decode())[0], 206)
        r = curl("-D", "-", "-o", os.path.join(self.out, "ir"), "-r", "0-9", "-H", 'If-Range: "old"',
                 self.url("big.bin"))
        self.assertEqual(headers_of(r.stdout.decode())[0], 200)
        with open(os.path.join(self.out, "ir"), "rb") as f:
            self.assertEqual(f.read(), self.data)

    def test_head_answers_the_headers_alone(self):
        r = curl("-I", self.url("big.bin"))
        status, h = headers_of(r.stdout.decode())
        self.assertEqual(status, 200)
        self.assertEqual(int(h["content-length"]), len(self.data))
        self.assertIn("date", h)
        # Range is for GET alone: a HEAD describes the whole file.
        r = curl("-I", "-r", "0-9", self.url("big.bin"))
        status, h = headers_of(r.stdout.decode())
        self.assertEqual(status, 200)
        self.assertEqual(int(h["content-length"]), len(self.data))
        # A raw HEAD: nothing follows the headers, and the connection serves the next request.
        with socket.create_connection(("127.0.0.1", self.peer.rest_port), timeout=10) as s:
            s.sendall(b"HEAD /archivos/hola.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /archivos/hola.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        self.assertEqual(raw.count(b"HTTP/1.1 200 OK"), 2)
        self.assertTrue(raw.endswith(b"\r\n\r\nhola mundo\n"), raw)

    def test_names_decode_once_and_others_types_come_from_the_extension(self):
        r = curl("-D", "-", self.url("ñandú & co.txt"))
        status, h = headers_of(r.stdout.decode().split("\r\n\r\n")[0] + "\r\n\r\n")
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(h["content-disposition"],
                         "attachment; filename=\"_and_ & co.txt\"; filename*=UTF-8''%C3%B1and%C3%BA%20&%20co.txt")
        r = curl("-D", "-", "-o", os.path.join(self.out, "empty"), self.url("vacío.txt"))
        self.assertEqual(headers_of(r.stdout.decode())[0], 200)
        self.assertEqual(os.path.getsize(os.path.join(self.out, "empty")), 0)
        # Case and surrounding spaces resolve as for Download.
        r = curl("-o", "/dev/null", "-w", "%{http_code}", self.base + "HOLA.TXT")
        self.assertEqual(r.stdout, b"200")

    def test_hostile_names_are_refused_and_nothing_outside_is_touched(self):
        before = sorted(os.listdir(self.peer.tmp))
        invalid = ["..", "%2e%2e", "%2e%2e%2fsecret.txt", "..%2Fsecret.txt", "a%00b", "a%2fb",
                   "%5c..%5csecret.txt", "x" * 300, "%zz", "a%0ab"]
        for name in invalid:
            for method in ("GET", "HEAD", "PUT"):
                with self.subTest(name=name[:20], method=method):
                    args = ["--path-as-is", "-o", "/dev/null", "-w", "%{http_code}"]
                    if method == "HEAD":
                        args += ["-I"]
                    if method == "PUT":
                        args += ["-X", "PUT", "--data-binary", "evil"]
                    r = curl(*args, self.base + name)
                    self.assertEqual(r.stdout, b"400", name)
        # A link in the share, even to a file beside it, is never followed.
        os.symlink(self.outside, os.path.join(self.peer.dir, "enlace.txt"))
        try:
            r = curl("-o", "/dev/null", "-w", "%{http_code}", self.base + "enlace.txt")
            self.assertIn(r.stdout, (b"403", b"404"))
        finally:
            os.unlink(os.path.join(self.peer.dir, "enlace.txt"))
        # A missing file, and one of the peer's temporaries, are not found.
        for name in ("nada.txt", ".p2p-tmp-1"):
            r = curl("-o", "/dev/null", "-w", "%{http_code}", self.base + name)
            self.assertEqual(r.stdout, b"404", name)
        # /archivos/../secret.txt as a path (curl would normalise it away without --path-as-is).
        r = curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", self.peer.url + "/archivos/../secret.txt")
        self.assertIn(int(r.stdout), (400, 404))
        self.assertEqual(sorted(os.listdir(self.peer.tmp)), before)
        with open(self.outside) as f:
            self.assertEqual(f.read(), "not shared")
        self.assertEqual(sorted(os.listdir(self.peer.dir)), sorted(["big.bin", "long.bin", "hola.txt", "vacío.txt", "ñandú & co.txt"]))

    def test_curl_resumes_an_interrupted_download(self):
        out = os.path.join(self.out, "resumed")
        # Interrupted for real: a slow transfer, killed once part of it has arrived.
        slow = subprocess.Popen(["curl", "-sS", "--limit-rate", "400K", "-o", out, self.url("long.bin")])
        try:
            self.assertTrue(wait_until(lambda: os.path.exists(out) and os.path.getsize(out) >= 200_000, 30))
        finally:
            slow.kill()
            slow.wait()
        partial = os.path.getsize(out)
        self.assertLess(partial, len(self.long))
        r = curl("-C", "-", "-D", "-", "-o", out, self.url("long.bin"))
        self.assertEqual(r.returncode, 0, r.stderr)
        status, h = headers_of(r.stdout.decode())
        self.assertEqual(status, 206)
        self.assertEqual(h["content-range"], f"bytes {partial}-{len(self.long) - 1}/{len(self.long)}")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), self.long)

    def test_a_file_truncated_mid_download_ends_the_response_short_and_the_peer_serves_on(self):
        path = os.path.join(self.peer.dir, "shrinks.bin")
        with open(path, "wb") as f:
            f.write(self.long)
        out = os.path.join(self.out, "shrinks")
        slow = subprocess.Popen(["curl", "-sS", "--limit-rate", "1M", "-o", out, self.url("shrinks.bin")],
                                stderr=subprocess.PIPE)
        try:
            self.assertTrue(wait_until(lambda: os.path.exists(out) and os.path.getsize(out) >= 100_000, 30))
            os.truncate(path, MIB)
            _, err = slow.communicate(timeout=60)
        finally:
            if slow.poll() is None:
                slow.kill()
        # curl says the body was short of its Content-Length (exit 18), never that it was whole.
        self.assertEqual(slow.returncode, 18, err)
        with open(out, "rb") as f:
            got = f.read()
        self.assertLess(len(got), len(self.long))
        self.assertEqual(got[:MIB], self.long[:MIB][:len(got)])
        self.assertEqual(self.peer.get("/health")[0], 200)
        self.assertTrue(wait_log(self.peer, re.compile(r"HTTP download shrinks\.bin finished: .*stopped")))
        os.unlink(path)

    def test_wget_resumes(self):
        d = os.path.join(self.out, "wget")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "big.bin"), "wb") as f:
            f.write(self.data[:PIECE + 7])
        r = subprocess.run(["wget", "-q", "-c", "-P", d, self.url("big.bin")], capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(d, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), self.data)

    def test_downloads_are_counted_in_metrics(self):
        before = metric(self.peer, "p2p_http_file_sent_bytes_total")
        r = curl("-o", "/dev/null", self.url("hola.txt"))
        self.assertEqual(r.returncode, 0)
        self.assertTrue(wait_until(lambda: metric(self.peer, "p2p_http_file_sent_bytes_total") >= before + 11))
        self.assertGreater(metric(self.peer, 'p2p_http_requests_total{method="GET",route="/archivos/{name}",status="200"}'), 0)


class LargeDownload(unittest.TestCase):
    """1 GiB with sendfile: REST keeps answering, and the peer's memory does not grow."""

    def test_a_1_gib_download_leaves_search_answered_and_memory_flat(self):
        with Peer("Large", files={"hola.txt": "hola"}) as peer:
            path = os.path.join(peer.dir, "large.bin")
            with open(path, "wb") as f:
                f.truncate(1024 * MIB)  # sparse: zeros from the page cache
            # Hashed before the baseline: the hasher's buffers and thread, started after it
            # was taken, would count as the download's growth.
            wait_hashed(peer, "large.bin", timeout=60)
            # The searches' own memory (buffers, the allocator's arenas) is in the baseline.
            for _ in range(20):
                self.assertEqual(peer.get("/buscar?archivo=hola.txt")[0], 200)
            idle = rss_kb(peer.proc.pid)
            # Paced by the client so that the download lasts while we ask.
            dl = subprocess.Popen(["curl", "-sS", "--limit-rate", "200M", "-o", "/dev/null", "-w", "%{size_download}",
                                   peer.url + "/archivos/large.bin"], stdout=subprocess.PIPE)
            answered, peak = 0, idle
            try:
                deadline = time.monotonic() + 60
                while dl.poll() is None and time.monotonic() < deadline and answered < 200:
                    t0 = time.monotonic()
                    status, body = peer.get("/buscar?archivo=hola.txt", timeout=5)
                    self.assertEqual(status, 200)
                    self.assertTrue(body["present"])
                    answered += 1
                    peak = max(peak, rss_kb(peer.proc.pid))
                    self.assertLess(time.monotonic() - t0, 2.0)
                out, _ = dl.communicate(timeout=120)
            finally:
                if dl.poll() is None:
                    dl.kill()
            self.assertEqual(int(out), 1024 * MIB)
            self.assertGreaterEqual(answered, 5, "the download ended before the searches could overlap it")
            # sendfile: no user-space copy of the file; what grows is a few kB at most. Under a
            # sanitizer the figure measures it (TSan's shadow memory, ASan's quarantine of
            # freed blocks), not us: the normal build checks the bound.
            print(f"\nRSS idle {idle} kB, peak during a 1 GiB download {peak} kB")
            if not os.environ.get("P2P_SANITIZER"):
                self.assertLess(peak - idle, 2048, f"RSS grew from {idle} to {peak} kB")


class AriaFromThreePeers(unittest.TestCase):
    def test_aria2c_fetches_one_file_from_three_peers_checked_by_sha256(self):
        data = pattern(8 * MIB + 99, "aria")
        digest = hashlib.sha256(data).hexdigest()
        peers = [Peer(f"Mirror{i}", files={"same.bin": data}).start() for i in range(3)]
        out = tempfile.mkdtemp(prefix="p2p-aria-")
        try:
            urls = [p.url + "/archivos/same.bin" for p in peers]
            r = subprocess.run(["aria2c", "-x3", "-s3", "-k1M", "--min-split-size=1M", "--file-allocation=none",
                                "--summary-interval=0", "--console-log-level=warn", "--no-conf",
                                "--checksum=sha-256=" + digest, "-d", out, "-o", "same.bin", *urls],
                               capture_output=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(os.path.join(out, "same.bin"), "rb") as f:
                self.assertEqual(f.read(), data)
            served = [metric(p, "p2p_http_file_sent_bytes_total") for p in peers]
            self.assertGreaterEqual(sum(1 for s in served if s > 0), 2, served)
        finally:
            for p in peers:
                p.cleanup()
            subprocess.run(["rm", "-rf", out])


MAX_UPLOAD = 12 * MIB


class Uploads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.peer = Peer("Uploads", files={"existe.txt": "ya"},
                        extra={"upload_token": "s3cret", "max_upload_bytes": MAX_UPLOAD}).start()

    @classmethod
    def tearDownClass(cls):
        cls.peer.cleanup()

    def put(self, name, data, *headers, token="s3cret", chunked=False):
        path = os.path.join(self.peer.tmp, "body")
        with open(path, "wb") as f:
            f.write(data)
        args = ["-o", "-", "-w", "\n%{http_code}", "-T", "-" if chunked else path]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        for h in headers:
            args += ["-H", h]
        url = self.peer.url + "/archivos/" + urllib.parse.quote(name, safe="")
        if chunked:
            r = subprocess.run(["curl", "-sS", *args, url], input=data, capture_output=True, timeout=60)
        else:
            r = curl(*args, url)
        body, _, code = r.stdout.rpartition(b"\n")
        return int(code), body

    def stored(self, name):
        p = os.path.join(self.peer.dir, name)
        if not os.path.exists(p):
            return None
        with open(p, "rb") as f:
            return f.read()

    def no_temporaries(self):
        return not [n for n in os.listdir(self.peer.dir) if n.startswith(".p2p-tmp")]

    def test_an_upload_with_the_token_is_stored_and_listed_at_once(self):
        data = pattern(3 * MIB + 5, "up")
        code, body = self.put("subido.bin", data)
        self.assertEqual(code, 201, body)
        answer = json.loads(body)
        self.assertEqual(answer["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(answer["size"], len(data))
        self.assertEqual(self.stored("subido.bin"), data)
        self.assertIn("subido.bin", listed(self.peer))
        # And it downloads back as it went up.
        self.assertEqual(curl(self.peer.url + "/archivos/subido.bin").stdout, data)

    def test_an_upload_over_8_mib_goes_to_the_disk_directly_and_byte_exact(self):
        # FileAppender::kBufferedUpTo: a length above it is written in direct stages, the
        # last one partial.
        data = os.urandom(8 * MIB + 256 * 1024 + 1)
        code, body = self.put("directo.bin", data)
        self.assertEqual(code, 201, body)
        self.assertEqual(json.loads(body)["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(self.stored("directo.bin"), data)

    def test_a_chunked_upload_streams_too(self):
        data = pattern(MIB + 3, "chunked")
        code, body = self.put("chunked.bin", data, chunked=True)
        self.assertEqual(code, 201, body)
        self.assertEqual(self.stored("chunked.bin"), data)

    def test_without_or_with_a_wrong_token_is_401_and_nothing_stored(self):
        for token in (None, "wrong"):
            with self.subTest(token=token):
                code, _ = self.put("sin-token.txt", b"hola", token=token)
                self.assertEqual(code, 401)
                self.assertIsNone(self.stored("sin-token.txt"))
        r = curl("-D", "-", "-o", "/dev/null", "-T", "/dev/null", self.peer.url + "/archivos/x.txt")
        self.assertIn("bearer", headers_of(r.stdout.decode())[1]["www-authenticate"].lower())

    def test_an_existing_name_is_409_and_412_when_asked_to_create_only(self):
        code, _ = self.put("existe.txt", b"otra cosa")
        self.assertEqual(code, 409)
        code, _ = self.put("existe.txt", b"otra cosa", "If-None-Match: *")
        self.assertEqual(code, 412)
        self.assertEqual(self.stored("existe.txt"), b"ya")
        code, _ = self.put("nuevo-solo.txt", b"nuevo", "If-None-Match: *")
        self.assertEqual(code, 201)

    def test_over_max_upload_bytes_is_413_with_or_without_a_length(self):
        big = b"z" * (MAX_UPLOAD + 1)
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                code, _ = self.put("grande.bin", big, chunked=chunked)
                self.assertEqual(code, 413)
                self.assertIsNone(self.stored("grande.bin"))
        self.assertTrue(wait_until(self.no_temporaries))

    def test_digests_are_checked_and_a_wrong_one_stores_nothing(self):
        import base64
        data = b"contenido verificado\n"
        good = hashlib.sha256(data).digest()
        bad = hashlib.sha256(b"otro").digest()
        for i, (header, ok) in enumerate([
                ("X-Sha256: " + good.hex(), True), ("X-Sha256: " + bad.hex(), False),
                ("Repr-Digest: sha-256=:" + base64.b64encode(good).decode() + ":", True),
                ("Repr-Digest: sha-256=:" + base64.b64encode(bad).decode() + ":", False),
                ("Digest: SHA-256=" + base64.b64encode(good).decode(), True),
                ("Digest: sha-256=" + base64.b64encode(bad).decode(), False),
                ("X-Sha256: abc", False)]):
            with self.subTest(header=header):
                name = f"digest{i}.txt"
                code, body = self.put(name, data, header)
                self.assertEqual(code, 201 if ok else 400, body)
                self.assertEqual(self.stored(name), data if ok else None)

    def test_an_interrupted_upload_stores_nothing(self):
        with socket.create_connection(("127.0.0.1", self.peer.rest_port), timeout=10) as s:
            s.sendall(b"PUT /archivos/cortado.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                      b"Content-Length: 1000000\r\n\r\n" + b"a" * 300000)
            wait_until(lambda: metric(self.peer, "p2p_http_file_received_bytes_total") > 0, 10)
        self.assertTrue(wait_log(self.peer, re.compile(r"HTTP upload cortado\.bin .*cancelled")))
        self.assertIsNone(self.stored("cortado.bin"))
        self.assertTrue(wait_until(self.no_temporaries))

    def test_expect_100_continue_is_answered_and_a_refusal_needs_no_body(self):
        with socket.create_connection(("127.0.0.1", self.peer.rest_port), timeout=10) as s:
            s.sendall(b"PUT /archivos/esperado.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                      b"Content-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n"))
            s.sendall(b"hola")
            self.assertIn(b"201 Created", s.recv(4096))
        self.assertEqual(self.stored("esperado.txt"), b"hola")
        # Refused before the body: the answer comes without waiting for it.
        with socket.create_connection(("127.0.0.1", self.peer.rest_port), timeout=10) as s:
            s.sendall(b"PUT /archivos/esperado2.txt HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            self.assertIn(b"401", s.recv(4096))


class Limits(unittest.TestCase):
    def test_a_rate_limited_download_outlasts_the_idle_timeout(self):
        data = pattern(3 * MIB, "paced")
        with Peer("Paced", files={"paced.bin": data},
                  extra={"max_upload_rate": MIB, "http_idle_timeout_ms": 500}) as peer:
            t0 = time.monotonic()
            r = curl("-o", "-", peer.url + "/archivos/paced.bin")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, data)
            # Paced for longer than the idle timeout: the connection lived on its progress.
            self.assertGreater(time.monotonic() - t0, 1.0)

    def test_a_stop_ends_http_transfers_stuck_on_their_clients(self):
        data = pattern(24 * MIB, "stuck")
        with Peer("Stopping", files={"stuck.bin": data}, extra={"shutdown_grace_ms": 200}) as peer:
            reader = socket.create_connection(("127.0.0.1", peer.rest_port), timeout=10)
            writer = socket.create_connection(("127.0.0.1", peer.rest_port), timeout=10)
            try:
                # A download whose client never reads, an upload whose body stops coming.
                reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                reader.sendall(b"GET /archivos/stuck.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                writer.sendall(b"PUT /archivos/parado.bin HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 10000000\r\n\r\n" + b"p" * 100000)
                self.assertTrue(wait_until(lambda: metric(peer, "p2p_grpc_transfers_active") >= 2, 10))
                peer.signal(signal.SIGTERM)
                self.assertEqual(peer.proc.wait(30), 0)
            finally:
                reader.close()
                writer.close()
            self.assertTrue(wait_log(peer, re.compile(r"Stopping 2 transfers still running")))
            # Both ended while the peer still ran (their connections closed), not cut off
            # with the event loop.
            self.assertTrue(wait_log(peer, re.compile(r"HTTP download stuck\.bin finished: .*stopped")))
            self.assertTrue(wait_log(peer, re.compile(r"HTTP upload parado\.bin finished: .*cancelled")))
            self.assertFalse([n for n in os.listdir(peer.dir) if n.startswith(".p2p-tmp") or n == "parado.bin"])

    def test_an_upload_larger_than_the_disk_is_507_before_its_body_is_sent(self):
        with Peer("Small disk") as peer:
            st = os.statvfs(peer.dir)
            huge = st.f_bavail * st.f_frsize + (1 << 40)
            with socket.create_connection(("127.0.0.1", peer.rest_port), timeout=30) as s:
                # The body never comes: the answer must not wait for it.
                s.sendall(b"PUT /archivos/enorme.bin HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: %d\r\n\r\n" % huge + b"e" * 1000)
                answer = b""
                while b"\r\n\r\n" not in answer:
                    got = s.recv(4096)
                    self.assertTrue(got, answer)
                    answer += got
                head, _, body = answer.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                while len(body) < length:
                    got = s.recv(4096)
                    self.assertTrue(got, answer)
                    body += got
            self.assertTrue(head.startswith(b"HTTP/1.1 507"), head)
            self.assertIn("enorme.bin", json.loads(body)["error"])
            self.assertFalse([n for n in os.listdir(peer.dir) if n.startswith(".p2p-tmp") or n == "enorme.bin"])

    def test_max_transfers_and_max_upload_rate_hold_for_http_too(self):
        data = pattern(3 * MIB, "limits")
        with Peer("Limited", files={"slow.bin": data},
                  extra={"max_transfers": 1, "max_upload_rate": 2 * MIB}) as peer:
            url = peer.url + "/archivos/slow.bin"
            t0 = time.monotonic()
            first = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", url],
                                     stdout=subprocess.PIPE)
            try:
                self.assertTrue(wait_until(lambda: metric(peer, "p2p_grpc_transfers_active") >= 1, 10))
                r = curl("-D", "-", "-o", "/dev/null", url)
                status, h = headers_of(r.stdout.decode())
                self.assertEqual(status, 503)
                self.assertEqual(h["retry-after"], "1")
                out, _ = first.communicate(timeout=60)
            finally:
                if first.poll() is None:
                    first.kill()
            self.assertEqual(int(out), len(data))
            # 3 MiB at 2 MiB/s after a burst of a tenth of it: at least a second.
            self.assertGreater(time.monotonic() - t0, 1.0)


if __name__ == "__main__":
    unittest.main()
