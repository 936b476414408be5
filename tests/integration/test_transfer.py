"""gRPC transfers against a real peer on loopback: round trips, concurrency, every error
status, hostile names, cancellation, and the p2p command end to end."""
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import CLI_BIN, Peer, metric, wait_log, wait_until  # noqa: E402
from transfer_stubs import pb2, pb2_grpc  # noqa: E402

CHUNK = 65536
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7]


def chunks_of(data, size=CHUNK):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def upload_requests(name, data, name_only_first=False):
    if name_only_first:
        yield pb2.UploadRequest(filename=name)
        for c in chunks_of(data):
            yield pb2.UploadRequest(chunk=c)
    else:
        for i, c in enumerate(chunks_of(data)):
            yield pb2.UploadRequest(filename=name if i == 0 else "", chunk=c)


def folder_state(path):
    return sorted(os.listdir(path))


class Transfers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.outside = tempfile.mkdtemp(prefix="p2p-outside-")
        with open(os.path.join(cls.outside, "secret.txt"), "w") as f:
            f.write("not for sharing")
        cls.peer = Peer("Xfer", files={"hello.txt": "hello world"}).start()
        os.symlink(os.path.join(cls.outside, "secret.txt"), os.path.join(cls.peer.dir, "escape.txt"))
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.peer.grpc_port}")
        cls.stub = pb2_grpc.FileServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.peer.cleanup()
        import shutil
        shutil.rmtree(cls.outside, ignore_errors=True)

    def download(self, name, timeout=30):
        return b"".join(r.chunk for r in self.stub.Download(pb2.DownloadRequest(filename=name), timeout=timeout))

    def upload(self, name, data, **kw):
        return self.stub.Upload(upload_requests(name, data, **kw), timeout=30)

    def assertStatus(self, code, fn):
        with self.assertRaises(grpc.RpcError) as cm:
            fn()
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception.details()

    def test_round_trips_at_chunk_boundaries(self):
        for size in SIZES + [10 * 1024 * 1024]:
            with self.subTest(size=size):
                data = os.urandom(size)
                name = f"rt-{size}.bin"
                resp = self.upload(name, data)
                self.assertTrue(resp.ok)
                with open(os.path.join(self.peer.dir, name), "rb") as f:
                    self.assertEqual(f.read(), data)
                self.assertEqual(self.download(name), data)

    def test_chunks_are_chunk_size_and_first_carries_total(self):
        data = os.urandom(3 * CHUNK + 7)
        self.upload("sized.bin", data)
        msgs = list(self.stub.Download(pb2.DownloadRequest(filename="sized.bin"), timeout=10))
        self.assertEqual([len(m.chunk) for m in msgs], [CHUNK, CHUNK, CHUNK, 7])
        self.assertEqual(msgs[0].total_size, len(data))
        self.assertEqual([m.total_size for m in msgs[1:]], [0, 0, 0])

    def test_upload_is_listed_at_once(self):
        self.upload("instant.txt", b"now")
        # With the sha256 the upload computed: a download at once is verified.
        listed = {f["name"]: (f["size"], f.get("sha256")) for f in self.peer.get("/listado")[1]}
        self.assertEqual(listed.get("instant.txt"), (3, hashlib.sha256(b"now").hexdigest()))
        self.assertTrue(self.peer.get("/buscar?archivo=INSTANT.TXT")[1]["present"])

    def test_download_name_is_case_insensitive(self):
        self.assertEqual(self.download("HELLO.TXT"), b"hello world")

    def test_32_concurrent_downloads_identical(self):
        data = os.urandom(2 * 1024 * 1024 + 13)
        self.upload("shared.bin", data)
        want = hashlib.sha256(data).hexdigest()
        results = [None] * 32

        def worker(i):
            results[i] = hashlib.sha256(self.download("shared.bin", timeout=60)).hexdigest()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        self.assertEqual(results, [want] * 32)

    def test_not_found(self):
        self.assertStatus(grpc.StatusCode.NOT_FOUND, lambda: self.download("missing.txt"))

    def test_hostile_names(self):
        before_outside = folder_state(self.outside)
        before_parent = folder_state(os.path.dirname(self.peer.dir))
        for name in ["../x", "/etc/passwd", "a/b", "..", ".", "", "x" * 300, "..\\x", "a\x00b",
                     "line\nbreak"]:
            with self.subTest(name=name):
                self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, lambda: self.download(name))
                self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, lambda: self.upload(name, b"evil"))
        self.assertEqual(folder_state(self.outside), before_outside)
        self.assertEqual(folder_state(os.path.dirname(self.peer.dir)), before_parent)

    def test_symlink_pointing_outside_is_refused(self):
        self.assertStatus(grpc.StatusCode.PERMISSION_DENIED, lambda: self.download("escape.txt"))
        names = [f["name"] for f in self.peer.get("/listado")[1]]
        self.assertNotIn("escape.txt", names)
        # An upload under the link's name must not write through it.
        self.assertStatus(grpc.StatusCode.ALREADY_EXISTS, lambda: self.upload("escape.txt", b"x"))
        with open(os.path.join(self.outside, "secret.txt")) as f:
            self.assertEqual(f.read(), "not for sharing")

    def test_temporaries_are_never_served_or_accepted(self):
        self.assertStatus(grpc.StatusCode.NOT_FOUND, lambda: self.download(".p2p-tmp-0000"))
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, lambda: self.upload(".p2p-tmp-0000", b"x"))

    def test_existing_file_is_not_replaced(self):
        self.upload("once.txt", b"first")
        details = self.assertStatus(grpc.StatusCode.ALREADY_EXISTS, lambda: self.upload("once.txt", b"second"))
        self.assertIn("once.txt", details)
        self.assertStatus(grpc.StatusCode.ALREADY_EXISTS, lambda: self.upload("ONCE.TXT", b"second"))
        self.assertEqual(self.download("once.txt"), b"first")

    def test_name_is_free_again_once_its_file_is_deleted(self):
        # At once: the index may still list the file (the watcher has not seen the
        # deletion yet); the folder decides.
        for i in range(5):
            name = f"again-{i}.txt"
            self.assertTrue(self.upload(name, b"first").ok)
            os.remove(os.path.join(self.peer.dir, name))
            self.assertTrue(self.upload(name, b"second").ok)
            self.assertEqual(self.download(name), b"second")

    def test_short_upload_against_its_announced_size_is_not_stored(self):
        before = folder_state(self.peer.dir)
        reqs = [pb2.UploadRequest(filename="short.bin", chunk=b"x" * 100, total_size=1000)]
        self.assertStatus(grpc.StatusCode.CANCELLED, lambda: self.stub.Upload(iter(reqs), timeout=10))
        reqs = [pb2.UploadRequest(filename="long.bin", chunk=b"x" * 100, total_size=10)]
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, lambda: self.stub.Upload(iter(reqs), timeout=10))
        self.assertTrue(wait_until(lambda: folder_state(self.peer.dir) == before))
        reqs = [pb2.UploadRequest(filename="exact.bin", chunk=b"x" * 100, total_size=100)]
        self.assertTrue(self.stub.Upload(iter(reqs), timeout=10).ok)

    def test_fifo_in_the_share_is_refused_without_blocking(self):
        os.mkfifo(os.path.join(self.peer.dir, "pipe"))
        try:
            self.assertStatus(grpc.StatusCode.NOT_FOUND, lambda: self.download("pipe", timeout=5))
            self.assertEqual(self.download("hello.txt"), b"hello world")  # still serving
        finally:
            os.remove(os.path.join(self.peer.dir, "pipe"))

    def test_empty_upload_stream_is_invalid(self):
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: self.stub.Upload(iter([]), timeout=10))

    def test_cancelled_upload_leaves_folder_as_it_was(self):
        before = folder_state(self.peer.dir)
        sent = threading.Event()
        release = threading.Event()

        def requests():
            yield pb2.UploadRequest(filename="cancelled.bin", chunk=os.urandom(CHUNK))
            yield pb2.UploadRequest(chunk=os.urandom(CHUNK))
            sent.set()
            release.wait(10)

        fut = self.stub.Upload.future(requests(), timeout=30)
        self.assertTrue(sent.wait(10))
        # The temporary exists while the upload runs...
        self.assertTrue(wait_until(lambda: folder_state(self.peer.dir) != before, timeout=5))
        fut.cancel()
        release.set()
        # ...and is gone once it is cancelled.
        self.assertTrue(wait_until(lambda: folder_state(self.peer.dir) == before, timeout=5),
                        folder_state(self.peer.dir))
        self.assertTrue(wait_log(self.peer, re.compile(r"Upload cancelled\.bin finished.*cancelled")),
                        self.peer.lines[-5:])

    def test_abandoned_download_is_freed(self):
        data = os.urandom(8 * 1024 * 1024)
        self.upload("abandon.bin", data)
        call = self.stub.Download(pb2.DownloadRequest(filename="abandon.bin"), timeout=30)
        next(call)
        call.cancel()
        self.assertTrue(wait_log(self.peer, "Download abandon.bin finished"), self.peer.lines[-5:])
        self.assertEqual(self.download("abandon.bin"), data)


class ChunkSizes(unittest.TestCase):
    """Downloads at the smallest and the largest chunk_size, where the read-ahead differs
    most (16 buffers of 1 KiB, 8 of 2 MiB): the file and every range span more than twice
    as many chunks as there are buffers, so each buffer is reused while gRPC may still
    hold slices over the others."""

    def check(self, chunk, piece):
        data = os.urandom(40 * chunk + 5)
        with Peer(f"Chunk{chunk}", files={"big.bin": data},
                  extra={"chunk_size": chunk, "piece_size": piece}) as peer, \
                grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}") as ch:
            stub = pb2_grpc.FileServiceStub(ch)
            msgs = list(stub.Download(pb2.DownloadRequest(filename="big.bin"), timeout=60))
            self.assertEqual([len(m.chunk) for m in msgs], [len(c) for c in chunks_of(data, chunk)])
            self.assertEqual(b"".join(m.chunk for m in msgs), data)
            # From inside one chunk to inside another, 35 chunks on, twice at once.
            off, n = chunk // 2, 34 * chunk + 3
            results = [None] * 2

            def ranged(i):
                req = pb2.DownloadRequest(filename="big.bin", offset=off, length=n)
                results[i] = b"".join(m.chunk for m in stub.Download(req, timeout=60))

            threads = [threading.Thread(target=ranged, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(90)
            self.assertEqual(results, [data[off:off + n]] * 2)

    def test_smallest_chunk(self):
        self.check(1024, 1024 * 1024)

    def test_largest_chunk(self):
        self.check(2 * 1024 * 1024, 2 * 1024 * 1024)


class UploadLimits(unittest.TestCase):
    def test_oversize_upload_is_resource_exhausted_and_leaves_nothing(self):
        with Peer("Small", extra={"max_upload_bytes": 100000}) as peer:
            before = folder_state(peer.dir)
            with grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}") as ch:
                stub = pb2_grpc.FileServiceStub(ch)
                with self.assertRaises(grpc.RpcError) as cm:
                    stub.Upload(upload_requests("big.bin", os.urandom(300000)), timeout=30)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                ok = stub.Upload(upload_requests("fits.bin", os.urandom(100000)), timeout=30)
                self.assertTrue(ok.ok)
            self.assertTrue(wait_until(lambda: folder_state(peer.dir) == sorted(before + ["fits.bin"])))

    def test_overwrite_when_allowed(self):
        with Peer("Over", files={"a.txt": "old"}, extra={"allow_overwrite": True}) as peer:
            with grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}") as ch:
                stub = pb2_grpc.FileServiceStub(ch)
                self.assertTrue(stub.Upload(upload_requests("a.txt", b"new"), timeout=10).ok)
            with open(os.path.join(peer.dir, "a.txt"), "rb") as f:
                self.assertEqual(f.read(), b"new")


class UploadManifest(unittest.TestCase):
    def test_upload_is_verifiable_at_once_while_the_hasher_is_busy(self):
        # The hasher is kept busy with 4 GiB (sparse) when the upload lands, so its thread
        # cannot be what attaches the upload's manifest: the upload must do it itself.
        with Peer("BusyHasher") as peer, tempfile.TemporaryDirectory() as out, \
                grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}") as ch:
            with open(os.path.join(peer.dir, "big.bin"), "wb") as f:
                f.truncate(4 << 30)
            self.assertTrue(wait_until(lambda: metric(peer, "p2p_hash_bytes_total") > 0, timeout=30))
            data = os.urandom(100000)
            self.assertTrue(pb2_grpc.FileServiceStub(ch).Upload(upload_requests("up.bin", data),
                                                                 timeout=30).ok)
            listed = {f["name"]: f.get("sha256") for f in peer.get("/listado")[1]}
            self.assertIsNone(listed["big.bin"], "the hasher finished first: the test proves nothing")
            self.assertEqual(listed["up.bin"], hashlib.sha256(data).hexdigest())
            r = subprocess.run([CLI_BIN, "get", "up.bin", "--from", f"127.0.0.1:{peer.grpc_port}",
                                "-o", out], capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stderr), (0, ""))  # verified: no "not verified"
            self.assertIn(hashlib.sha256(data).hexdigest(), r.stdout)


class UploadToken(unittest.TestCase):
    def test_upload_needs_the_token_when_one_is_set(self):
        with Peer("Guarded", files={"open.txt": "free to read"}, extra={"upload_token": "s3cret"}) as peer:
            with grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}") as ch:
                stub = pb2_grpc.FileServiceStub(ch)
                for metadata in (None, (("authorization", "Bearer wrong"),), (("authorization", "s3cret"),)):
                    with self.assertRaises(grpc.RpcError) as cm:
                        stub.Upload(upload_requests("in.txt", b"data"), timeout=10, metadata=metadata)
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED, metadata)
                self.assertFalse(os.path.exists(os.path.join(peer.dir, "in.txt")))
                ok = stub.Upload(upload_requests("in.txt", b"data"), timeout=10,
                                 metadata=(("authorization", "Bearer s3cret"),))
                self.assertTrue(ok.ok)
                # Downloads need no token.
                got = b"".join(m.chunk for m in stub.Download(pb2.DownloadRequest(filename="open.txt"), timeout=10))
                self.assertEqual(got, b"free to read")
            with tempfile.TemporaryDirectory() as tmp:
                src = os.path.join(tmp, "cli.txt")
                with open(src, "w") as f:
                    f.write("via p2p")
                addr = f"127.0.0.1:{peer.grpc_port}"
                r = subprocess.run([CLI_BIN, "put", src, "--to", addr], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 5, r.stderr)
                self.assertIn("token", r.stderr)
                r = subprocess.run([CLI_BIN, "put", src, "--to", addr, "--token", "s3cret"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                env = dict(os.environ, P2P_UPLOAD_TOKEN="s3cret")
                r = subprocess.run([CLI_BIN, "put", src, "--to", addr, "--as", "env.txt"], capture_output=True,
                                   text=True, timeout=30, env=env)
                self.assertEqual(r.returncode, 0, r.stderr)


class Permissions(unittest.TestCase):
    def test_unreadable_file_and_folder(self):
        with Peer("Nobody", files={"locked.txt": "x", "open.txt": "y"}, as_nobody=os.geteuid() == 0) as peer:
            os.chmod(os.path.join(peer.dir, "locked.txt"), 0)
            os.chmod(os.path.join(peer.dir, "open.txt"), 0o644)
            with grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}") as ch:
                stub = pb2_grpc.FileServiceStub(ch)
                with self.assertRaises(grpc.RpcError) as cm:
                    list(stub.Download(pb2.DownloadRequest(filename="locked.txt"), timeout=10))
                self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
                self.assertEqual(b"".join(m.chunk for m in stub.Download(
                    pb2.DownloadRequest(filename="open.txt"), timeout=10)), b"y")
                os.chmod(peer.dir, 0o555)  # no writing into the share
                try:
                    with self.assertRaises(grpc.RpcError) as cm:
                        stub.Upload(upload_requests("new.txt", b"data"), timeout=10)
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
                finally:
                    os.chmod(peer.dir, 0o777)


class Shutdown(unittest.TestCase):
    def test_new_transfers_are_unavailable_while_shutting_down(self):
        # A grace that a loaded machine cannot outlast while the client reads 256 MiB.
        peer = Peer("Closing", extra={"shutdown_grace_ms": 60000}).start()
        with open(os.path.join(peer.dir, "big.bin"), "wb") as f:
            f.truncate(256 * 1024 * 1024)  # more than flow control lets through unread
        try:
            ch = grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}")
            stub = pb2_grpc.FileServiceStub(ch)
            slow = stub.Download(pb2.DownloadRequest(filename="big.bin"), timeout=60)
            next(slow)  # a transfer in flight keeps the server in its grace period
            peer.signal(signal.SIGTERM)
            self.assertTrue(wait_log(peer, "shutting down"), peer.lines[-5:])
            with self.assertRaises(grpc.RpcError) as cm:
                list(stub.Download(pb2.DownloadRequest(filename="big.bin"), timeout=5))
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            got = 1 + sum(1 for _ in slow)  # the one in flight still completes
            self.assertEqual(got, 256 * 16)
            ch.close()
            self.assertEqual(peer.proc.wait(15), 0, peer.tail())
        finally:
            peer.cleanup()


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.peer = Peer("CliPeer", files={"doc.txt": "contenido"}).start()
        cls.addr = f"127.0.0.1:{cls.peer.grpc_port}"

    @classmethod
    def tearDownClass(cls):
        cls.peer.cleanup()

    def p2p(self, *args):
        return subprocess.run([CLI_BIN, *args], capture_output=True, text=True, timeout=60)

    def test_get_and_put_round_trip(self):
        with tempfile.TemporaryDirectory() as out:
            src = os.path.join(out, "local.bin")
            data = os.urandom(1024 * 1024 + 5)
            with open(src, "wb") as f:
                f.write(data)
            r = self.p2p("put", src, "--to", self.addr, "--as", "remote.bin")
            self.assertEqual(r.returncode, 0, r.stderr)
            dl = os.path.join(out, "dl")
            os.mkdir(dl)
            r = self.p2p("get", "remote.bin", "--from", self.addr, "-o", dl)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(dl, "remote.bin"), "rb") as f:
                self.assertEqual(f.read(), data)
            self.assertEqual(os.listdir(dl), ["remote.bin"])  # no temporary left
            self.assertEqual(r.stderr, "")  # no progress bar when stderr is not a TTY

    def test_exit_codes(self):
        with tempfile.TemporaryDirectory() as out:
            cases = [
                (["get", "missing.txt", "--from", self.addr, "-o", out], 3, "not found"),
                (["get", "../etc/passwd", "--from", self.addr, "-o", out], 2, "bad name"),
                (["get", "doc.txt", "--from", "127.0.0.1:1", "-o", out], 6, "unreachable"),
            ]
            for args, code, word in cases:
                with self.subTest(args=args):
                    r = self.p2p(*args)
                    self.assertEqual(r.returncode, code, r.stderr)
                    self.assertIn(word, r.stderr)
                    self.assertEqual(len(r.stderr.strip().splitlines()), 1)
            self.assertEqual(os.listdir(out), [])
            self.assertEqual(self.p2p("get", "doc.txt", "--from", self.addr, "-o", out).returncode, 0)
            r = self.p2p("get", "doc.txt", "--from", self.addr, "-o", out)
            self.assertEqual(r.returncode, 4, r.stderr)
            self.assertIn("exists", r.stderr)
            src = os.path.join(out, "doc.txt")
            r = self.p2p("put", src, "--to", self.addr)
            self.assertEqual(r.returncode, 4, r.stderr)
            r = self.p2p("put", src, "--to", self.addr, "--as", "a/b")
            self.assertEqual(r.returncode, 2, r.stderr)

    def test_get_never_writes_outside_output_folder(self):
        with tempfile.TemporaryDirectory() as root:
            out = os.path.join(root, "out")
            os.mkdir(out)
            for name in ["../doc.txt", "/tmp/doc.txt", "sub/doc.txt", ".."]:
                r = self.p2p("get", name, "--from", self.addr, "-o", out)
                self.assertEqual(r.returncode, 2, (name, r.stderr))
            self.assertEqual(sorted(os.listdir(root)), ["out"])
            self.assertEqual(os.listdir(out), [])

    def test_interrupted_get_leaves_nothing_under_its_name(self):
        with tempfile.TemporaryDirectory() as out:
            big = os.path.join(self.peer.dir, "huge.bin")
            with open(big, "wb") as f:
                f.truncate(512 * 1024 * 1024)  # sparse: big, cheap
            # Hashed, so the get is verified: what it keeps is its part file and their record.
            self.assertTrue(wait_until(lambda: any(f["name"] == "huge.bin" and "sha256" in f
                                                   for f in self.peer.get("/listado")[1]),
                                       timeout=60))
            # Paced (at least 32 s) so that it is still running when interrupted: unpaced, a
            # fast machine can finish before the signal is sent.
            p = subprocess.Popen([CLI_BIN, "get", "huge.bin", "--from", self.addr, "-o", out,
                                  "--max-rate", "16M"], stderr=subprocess.PIPE, text=True)
            self.assertTrue(wait_until(lambda: len(os.listdir(out)) > 0, timeout=10))
            p.send_signal(signal.SIGINT)
            p.wait(15)
            self.assertEqual(p.returncode, 130, p.stderr.read())
            p.stderr.close()
            self.assertEqual(sorted(os.listdir(out)), [".p2p-part-huge.bin", ".p2p-state-huge.bin"])
            os.remove(big)


if __name__ == "__main__":
    unittest.main()
