"""Clients we did not write against our peer: the Python original's style of gRPC client
(Debian's python3-grpcio, stubs generated from proto/transfer.proto at test time) and curl
for REST."""
import json
import os
import subprocess
import sys
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from peerlib import Peer  # noqa: E402
from transfer_stubs import pb2, pb2_grpc  # noqa: E402


class SeedStyleClient(unittest.TestCase):
    """What the seed's grpc_client.py does: a filename-only first message, then chunks."""

    @classmethod
    def setUpClass(cls):
        cls.data = os.urandom(5 * 1024 * 1024 + 3)
        cls.peer = Peer("Interop", files={"documento1.txt": "hola", "served.bin": cls.data}).start()
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.peer.grpc_port}")
        cls.stub = pb2_grpc.FileServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.peer.cleanup()

    def test_download_byte_exact(self):
        got = b"".join(r.chunk for r in self.stub.Download(pb2.DownloadRequest(filename="served.bin"), timeout=30))
        self.assertEqual(got, self.data)

    def test_upload_filename_only_first_message(self):
        data = os.urandom(1024 * 1024 + 17)

        def requests():
            yield pb2.UploadRequest(filename="seed-style.bin")
            for i in range(0, len(data), 1024 * 1024):  # the seed's client uses 1 MiB chunks
                yield pb2.UploadRequest(chunk=data[i:i + 1024 * 1024])

        resp = self.stub.Upload(requests(), timeout=30)
        self.assertTrue(resp.ok)
        self.assertIn("seed-style.bin", resp.message)
        with open(os.path.join(self.peer.dir, "seed-style.bin"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_upload_filename_in_every_message(self):
        data = os.urandom(200000)
        reqs = [pb2.UploadRequest(filename="every.bin", chunk=data[i:i + 65536]) for i in range(0, len(data), 65536)]
        self.assertTrue(self.stub.Upload(iter(reqs), timeout=30).ok)
        got = b"".join(r.chunk for r in self.stub.Download(pb2.DownloadRequest(filename="every.bin"), timeout=30))
        self.assertEqual(got, data)

    def test_old_message_definition_ignores_total_size(self):
        # A client built from the seed's proto (no total_size field) still parses our chunks.
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        fdp = descriptor_pb2.FileDescriptorProto(name="seed_only.proto", package="seedonly", syntax="proto3")
        m = fdp.message_type.add(name="DownloadResponse")
        m.field.add(name="chunk", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        pool = descriptor_pool.DescriptorPool()
        pool.Add(fdp)
        SeedResponse = message_factory.MessageFactory(pool).GetPrototype(
            pool.FindMessageTypeByName("seedonly.DownloadResponse"))
        call = self.channel.unary_stream("/transfer.FileService/Download",
                                         request_serializer=pb2.DownloadRequest.SerializeToString,
                                         response_deserializer=SeedResponse.FromString)
        got = b"".join(r.chunk for r in call(pb2.DownloadRequest(filename="served.bin"), timeout=30))
        self.assertEqual(got, self.data)

    def test_curl_rest(self):
        out = subprocess.run(["curl", "-sS", "--max-time", "5", f"{self.peer.url}/listado"],
                             capture_output=True, text=True, check=True).stdout
        self.assertIn("documento1.txt", [f["name"] for f in json.loads(out)])
        out = subprocess.run(["curl", "-sS", "--max-time", "5", f"{self.peer.url}/buscar?archivo=DOCUMENTO1.TXT"],
                             capture_output=True, text=True, check=True).stdout
        body = json.loads(out)
        self.assertTrue(body["present"])
        self.assertEqual(body["grpc_address"], f"127.0.0.1:{self.peer.grpc_port}")


if __name__ == "__main__":
    unittest.main()
