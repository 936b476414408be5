"""Our client against a FileService written the Python original's way (grpcio, messages built
by protobuf, no total_size, no Manifest): `p2p get --from` falls back to an unverified download
and stores the bytes exactly, whatever the sender's message sizes; a missing file stores
nothing."""
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest
from concurrent import futures

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import CLI_BIN  # noqa: E402
from transfer_stubs import pb2, pb2_grpc  # noqa: E402


class SeedLikeService(pb2_grpc.FileServiceServicer):
    """Download as the seed serves it; Manifest is left UNIMPLEMENTED, as in the seed."""

    def __init__(self):
        self.files = {}
        self.chunk = 65536

    def Download(self, request, context):
        data = self.files.get(request.filename)
        if data is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.filename} not found")
        for i in range(0, len(data), self.chunk):
            yield pb2.DownloadResponse(chunk=data[i:i + self.chunk])


class PythonServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.service = SeedLikeService()
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb2_grpc.add_FileServiceServicer_to_server(cls.service, cls.server)
        cls.port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(None)

    def get(self, name, out):
        return subprocess.run([CLI_BIN, "get", name, "--from", f"127.0.0.1:{self.port}", "-o", out],
                              capture_output=True, text=True, timeout=60)

    def test_downloads_byte_exact_for_any_message_size(self):
        # Small messages only for small files: Python sends some thousand messages a second.
        cases = [(1, size) for size in (0, 1, 777)] + [(1000, 65536 + 1)] + [
            (chunk, size) for chunk in (65536, 1 << 20)
            for size in (0, 1, 65535, 65536, 3 * 65536 + 7, 5 * 1000 * 1000 + 3)]
        for chunk, size in cases:
            with self.subTest(chunk=chunk, size=size), tempfile.TemporaryDirectory() as out:
                data = hashlib.shake_256(f"{chunk}/{size}".encode()).digest(size)
                self.service.chunk = chunk
                self.service.files["f.bin"] = data
                r = self.get("f.bin", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("not verified", r.stderr)
                with open(os.path.join(out, "f.bin"), "rb") as f:
                    self.assertEqual(f.read(), data)
                self.assertEqual(os.listdir(out), ["f.bin"])

    def test_missing_file_stores_nothing(self):
        with tempfile.TemporaryDirectory() as out:
            r = self.get("absent.bin", out)
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(os.listdir(out), [])


if __name__ == "__main__":
    unittest.main()
