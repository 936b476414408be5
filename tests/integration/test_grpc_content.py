"""The gRPC side of verified, resumable, multi-source downloads against real peers on
loopback, with grpcio stubs built from proto/transfer.proto: ranged Download, the Manifest
RPC, uploads hashed while they arrive (and refused when their sha256 is not the one sent),
and max_upload_rate."""
import hashlib
import os
import sys
import tempfile
import threading
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import Peer, wait_listed, wait_until  # noqa: E402
from test_content import metric, pattern  # noqa: E402
from transfer_stubs import pb2, pb2_grpc  # noqa: E402

CHUNK = 65536
PIECE = 65536  # the smallest piece_size that is a multiple of the default chunk_size


def stub_of(peer):
    channel = grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}")
    return channel, pb2_grpc.FileServiceStub(channel)


def upload_requests(name, data, sha256="", announce=True):
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    for i, c in enumerate(chunks):
        first = i == 0
        yield pb2.UploadRequest(filename=name if first else "", chunk=c,
                                total_size=len(data) if first and announce else 0,
                                sha256=sha256 if first else "")


def piece_digests(data):
    return [hashlib.sha256(data[i:i + PIECE]).digest() for i in range(0, len(data), PIECE)]


def folder_files(peer):
    return sorted(os.listdir(peer.dir))


class GrpcCase(unittest.TestCase):
    def assertStatus(self, code, fn):
        with self.assertRaises(grpc.RpcError) as cm:
            fn()
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception.details()


class RangedDownload(GrpcCase):
    SIZE = 3 * PIECE + 5

    @classmethod
    def setUpClass(cls):
        cls.data = os.urandom(cls.SIZE)
        cls.peer = Peer("Ranges", files={"r.bin": cls.data}, extra={"piece_size": PIECE}).start()
        cls.channel, cls.stub = stub_of(cls.peer)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.peer.cleanup()

    def messages(self, **req):
        return list(self.stub.Download(pb2.DownloadRequest(filename="r.bin", **req), timeout=30))

    def test_a_range_is_exactly_those_bytes(self):
        n = self.SIZE
        offsets = [0, 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE, n - 1]
        lengths = [1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE]
        for offset in offsets:
            for length in lengths:
                with self.subTest(offset=offset, length=length):
                    msgs = self.messages(offset=offset, length=length)
                    got = b"".join(m.chunk for m in msgs)
                    # A range reaching past the end is clipped to it.
                    self.assertEqual(got, self.data[offset:offset + length])
                    # total_size is the whole file's, in the first message only.
                    self.assertEqual(msgs[0].total_size, n)
                    self.assertEqual([m.total_size for m in msgs[1:]], [0] * (len(msgs) - 1))
                    self.assertTrue(all(len(m.chunk) <= CHUNK for m in msgs))

    def test_length_zero_means_to_the_end(self):
        for offset in [0, 1, PIECE, self.SIZE - 1]:
            with self.subTest(offset=offset):
                got = b"".join(m.chunk for m in self.messages(offset=offset))
                self.assertEqual(got, self.data[offset:])

    def test_a_seed_request_gets_the_whole_file_as_before(self):
        msgs = self.messages()
        self.assertEqual(b"".join(m.chunk for m in msgs), self.data)
        self.assertEqual([len(m.chunk) for m in msgs], [CHUNK, CHUNK, CHUNK, 5])
        self.assertEqual(msgs[0].total_size, self.SIZE)

    def test_offset_at_the_end_is_empty_and_beyond_it_is_out_of_range(self):
        self.assertEqual(b"".join(m.chunk for m in self.messages(offset=self.SIZE)), b"")
        details = self.assertStatus(grpc.StatusCode.OUT_OF_RANGE,
                                    lambda: self.messages(offset=self.SIZE + 1))
        self.assertIn(str(self.SIZE), details)
        self.assertStatus(grpc.StatusCode.OUT_OF_RANGE,
                          lambda: self.messages(offset=2**63, length=10))


class ManifestRpc(GrpcCase):
    @classmethod
    def setUpClass(cls):
        cls.data = pattern(4 * PIECE + 123)
        cls.peer = Peer("Manifests", files={"m.bin": cls.data, "other.txt": "other"},
                        extra={"piece_size": PIECE}).start()
        cls.channel, cls.stub = stub_of(cls.peer)
        cls.sha = hashlib.sha256(cls.data).hexdigest()

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.peer.cleanup()

    def manifest(self, **req):
        return self.stub.Manifest(pb2.ManifestRequest(**req), timeout=10)

    def hashed(self, name, **req):
        """The manifest of `name`, once the peer has hashed it (it answers UNAVAILABLE, or
        the right answer, until then)."""
        answers = []

        def ready():
            try:
                answers.append(self.manifest(**req))
                return True
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())
                self.assertIn("hashed", e.details())
                return False

        self.assertTrue(wait_until(ready, timeout=30), f"{name} was never hashed")
        return answers[-1]

    def assertManifestOf(self, m, name, data):
        self.assertEqual(m.filename, name)
        self.assertEqual(m.size, len(data))
        self.assertEqual(m.sha256, hashlib.sha256(data).hexdigest())
        self.assertEqual(m.piece_size, PIECE)
        self.assertEqual(list(m.pieces), piece_digests(data))

    def test_by_name_and_by_sha256(self):
        self.assertManifestOf(self.hashed("m.bin", filename="m.bin"), "m.bin", self.data)
        self.assertManifestOf(self.manifest(filename="  M.BIN "), "m.bin", self.data)
        self.assertManifestOf(self.manifest(sha256=self.sha), "m.bin", self.data)
        self.assertManifestOf(self.manifest(sha256=self.sha.upper()), "m.bin", self.data)
        self.assertManifestOf(self.manifest(filename="m.bin", sha256=self.sha), "m.bin", self.data)

    def test_unknown_or_disagreeing_is_not_found(self):
        self.hashed("m.bin", filename="m.bin")
        self.hashed("other.txt", filename="other.txt")
        self.assertStatus(grpc.StatusCode.NOT_FOUND, lambda: self.manifest(filename="nope.bin"))
        self.assertStatus(grpc.StatusCode.NOT_FOUND, lambda: self.manifest(sha256="ab" * 32))
        other = hashlib.sha256(b"other").hexdigest()
        details = self.assertStatus(grpc.StatusCode.NOT_FOUND,
                                    lambda: self.manifest(filename="m.bin", sha256=other))
        self.assertIn(self.sha, details)

    def test_bad_requests_are_invalid_argument(self):
        for req in [{"sha256": "xyz"}, {"sha256": "ab" * 31}, {"filename": "m.bin", "sha256": "1"},
                    {"filename": "../m.bin"}, {"filename": "a/b"}, {}]:
            with self.subTest(req=req):
                self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, lambda: self.manifest(**req))

    def test_a_file_being_hashed_is_unavailable_then_its_manifest(self):
        big = os.urandom(48 * 1024 * 1024 + 1)
        # Written beside the share and renamed in, so the peer never sees it half written.
        with tempfile.NamedTemporaryFile(dir=self.peer.tmp, delete=False) as f:
            f.write(big)
        os.rename(f.name, os.path.join(self.peer.dir, "big.bin"))
        self.assertTrue(wait_listed(self.peer, "big.bin"))
        self.assertManifestOf(self.hashed("big.bin", filename="big.bin"), "big.bin", big)


class HashedUpload(GrpcCase):
    def setUp(self):
        self.peer = Peer("Uploads", extra={"piece_size": PIECE}).start()
        self.channel, self.stub = stub_of(self.peer)

    def tearDown(self):
        self.channel.close()
        self.peer.cleanup()

    def upload(self, name, data, sha256="", announce=True):
        return self.stub.Upload(upload_requests(name, data, sha256, announce), timeout=30)

    def test_the_right_sha256_stores_and_the_hasher_never_reads_it(self):
        data = os.urandom(3 * 1024 * 1024 + 17)
        want = hashlib.sha256(data).hexdigest()
        resp = self.upload("up.bin", data, sha256=want.upper())
        self.assertTrue(resp.ok)
        self.assertEqual(resp.sha256, want)
        with open(os.path.join(self.peer.dir, "up.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        listed = lambda: {f["name"]: f.get("sha256") for f in self.peer.get("/listado")[1]}
        self.assertTrue(wait_until(lambda: listed().get("up.bin") == want, timeout=10), listed())
        m = self.stub.Manifest(pb2.ManifestRequest(filename="up.bin"), timeout=10)
        self.assertEqual(list(m.pieces), piece_digests(data))
        # The manifest came from the upload itself: the hasher read no byte of the file.
        self.assertEqual(metric(self.peer, "p2p_hash_bytes_total"), 0)
        self.assertEqual(metric(self.peer, 'p2p_hash_files_total{outcome="learned"}'), 1)

    def test_without_sha256_the_response_reports_it(self):
        data = pattern(PIECE + 1)
        resp = self.upload("plain.bin", data)
        self.assertTrue(resp.ok)
        self.assertEqual(resp.sha256, hashlib.sha256(data).hexdigest())

    def test_a_wrong_sha256_stores_nothing(self):
        data = os.urandom(2 * CHUNK + 3)
        wrong = hashlib.sha256(b"something else").hexdigest()
        details = self.assertStatus(grpc.StatusCode.DATA_LOSS,
                                    lambda: self.upload("bad.bin", data, sha256=wrong))
        self.assertIn(wrong, details)
        self.assertIn(hashlib.sha256(data).hexdigest(), details)
        # No file, and no temporary either.
        self.assertEqual(folder_files(self.peer), [])
        self.assertNotIn("bad.bin", {f["name"] for f in self.peer.get("/listado")[1]})

    def test_bytes_are_exact_at_every_edge_of_the_writer_stages(self):
        stage = 256 * 1024  # FileAppender::kStageBytes
        buffered_up_to = 8 << 20  # FileAppender::kBufferedUpTo
        # Announced uploads up to 8 MiB go through the page cache, larger and unannounced
        # ones to the device in direct stages: both ways, at the stages' edges.
        for n in [stage - 1, stage, stage + 1, 4 * stage + 4097, buffered_up_to + stage + 1]:
            for announce in [True, False]:
                with self.subTest(size=n, announce=announce):
                    data = os.urandom(n)
                    name = f"edge-{n}-{announce}.bin"
                    resp = self.upload(name, data, announce=announce)
                    self.assertEqual(resp.sha256, hashlib.sha256(data).hexdigest())
                    with open(os.path.join(self.peer.dir, name), "rb") as f:
                        self.assertEqual(f.read(), data)

    def test_an_upload_larger_than_the_disk_is_refused_before_its_bytes_come(self):
        st = os.statvfs(self.peer.dir)
        huge = st.f_bavail * st.f_frsize + (1 << 40)
        release, sent_rest = threading.Event(), []

        def requests():
            yield pb2.UploadRequest(filename="huge.bin", chunk=b"x" * CHUNK, total_size=huge)
            release.wait(60)  # the refusal must come while the rest is still held back
            sent_rest.append(True)
            yield pb2.UploadRequest(chunk=b"y" * CHUNK)

        try:
            details = self.assertStatus(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                        lambda: self.stub.Upload(requests(), timeout=60))
            held_back = not sent_rest  # read before the generator is let go
        finally:
            release.set()
        self.assertTrue(held_back)
        self.assertIn("huge.bin", details)
        self.assertEqual(folder_files(self.peer), [])

    def test_a_malformed_sha256_is_refused_before_anything_is_written(self):
        for bad in ["abc", "g" * 64, "ab" * 33]:
            with self.subTest(sha256=bad):
                self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT,
                                  lambda: self.upload("m.bin", b"data", sha256=bad))
                self.assertEqual(folder_files(self.peer), [])


class UploadRate(GrpcCase):
    RATE = 256 * 1024  # bytes/s
    SIZE = 512 * 1024

    @classmethod
    def setUpClass(cls):
        cls.data = os.urandom(cls.SIZE)
        cls.peer = Peer("Limited", files={"a.bin": cls.data, "b.bin": cls.data},
                        extra={"max_upload_rate": cls.RATE}).start()
        cls.channel, cls.stub = stub_of(cls.peer)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.peer.cleanup()

    def download(self, name, out, **req):
        out[name] = b"".join(m.chunk for m in self.stub.Download(
            pb2.DownloadRequest(filename=name, **req), timeout=60))

    def test_a_download_takes_at_least_its_size_over_the_rate(self):
        sent = metric(self.peer, "p2p_grpc_sent_bytes_total")
        out = {}
        start = time.monotonic()
        self.download("a.bin", out)
        took = time.monotonic() - start
        self.assertEqual(out["a.bin"], self.data)
        # A lower bound only: a loaded machine may take longer.
        self.assertGreaterEqual(took, 0.8 * self.SIZE / self.RATE)
        self.assertEqual(metric(self.peer, "p2p_grpc_sent_bytes_total") - sent, self.SIZE)
        self.assertGreater(metric(self.peer, "p2p_grpc_upload_rate_limited_seconds_total"), 0)
        self.assertEqual(metric(self.peer, "p2p_grpc_max_upload_rate_bytes"), self.RATE)

    def test_concurrent_and_ranged_downloads_share_one_rate(self):
        out = {}
        half = self.SIZE // 2
        threads = [threading.Thread(target=self.download, args=("a.bin", out)),
                   threading.Thread(target=self.download, args=("b.bin", out),
                                    kwargs={"offset": half})]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        took = time.monotonic() - start
        self.assertEqual(out["a.bin"], self.data)
        self.assertEqual(out["b.bin"], self.data[half:])
        self.assertGreaterEqual(took, 0.8 * (self.SIZE + half) / self.RATE)


if __name__ == "__main__":
    unittest.main()
