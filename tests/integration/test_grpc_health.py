"""The gRPC side's standard services on a real peer, as stock tools use them:
grpc.health.v1.Health (grpc_health_probe, load balancers) — SERVING, then NOT_SERVING from
the moment shutdown begins — and server reflection (grpcurl without .proto files).
Client stubs come from Debian's grpc-proto files, compiled at test time."""
import os
import signal
import sys
import threading
import time
import unittest

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import Peer, wait_until  # noqa: E402
from transfer_stubs import pb2, pb2_grpc, stubs  # noqa: E402

GRPC_PROTO = os.environ.get("P2P_GRPC_PROTO_DIR", "/usr/share/grpc-proto")
health_pb2, health_pb2_grpc = stubs(os.path.join(GRPC_PROTO, "grpc/health/v1"), "health.proto")
refl_pb2, refl_pb2_grpc = stubs(os.path.join(GRPC_PROTO, "grpc/reflection/v1alpha"), "reflection.proto")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FILE_SERVICE = "transfer.FileService"


def check(channel, service=""):
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def reflect(channel, **request):
    """One request on a fresh ServerReflectionInfo stream, and its one answer."""
    stub = refl_pb2_grpc.ServerReflectionStub(channel)
    answers = stub.ServerReflectionInfo(iter([refl_pb2.ServerReflectionRequest(**request)]), timeout=5)
    return next(answers)


class HealthAndReflection(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.peer = Peer("Probed", files={"a.txt": "hola"}).start()
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.peer.grpc_port}")

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.peer.cleanup()

    def test_server_and_file_service_are_serving(self):
        self.assertEqual(check(self.channel), SERVING)
        self.assertEqual(check(self.channel, FILE_SERVICE), SERVING)

    def test_unknown_service_is_not_found(self):
        with self.assertRaises(grpc.RpcError) as cm:
            check(self.channel, "no.such.Service")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_watch_sends_the_current_status(self):
        stub = health_pb2_grpc.HealthStub(self.channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=FILE_SERVICE), timeout=5)
        self.assertEqual(next(watch).status, SERVING)
        watch.cancel()

    def test_reflection_lists_the_services(self):
        answer = reflect(self.channel, list_services="")
        names = {s.name for s in answer.list_services_response.service}
        self.assertLessEqual({FILE_SERVICE, "grpc.health.v1.Health",
                              "grpc.reflection.v1alpha.ServerReflection"}, names)

    def test_reflection_describes_the_file_service(self):
        answer = reflect(self.channel, file_containing_symbol=FILE_SERVICE)
        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in answer.file_descriptor_response.file_descriptor_proto]
        (proto,) = [f for f in files if f.package == "transfer"]
        (service,) = proto.service
        methods = {m.name: (m.client_streaming, m.server_streaming) for m in service.method}
        self.assertEqual(methods, {"Download": (False, True), "Upload": (True, False),
                                   "Manifest": (False, False)})

    def test_health_is_callable_from_its_reflected_description(self):
        # What grpcurl does for `grpcurl -plaintext HOST:PORT grpc.health.v1.Health/Check`:
        # fetch the description, build the messages from it, call.
        answer = reflect(self.channel, file_containing_symbol="grpc.health.v1.Health")
        pool = descriptor_pool.DescriptorPool()
        for b in answer.file_descriptor_response.file_descriptor_proto:
            pool.Add(descriptor_pb2.FileDescriptorProto.FromString(b))
        method = pool.FindServiceByName("grpc.health.v1.Health").FindMethodByName("Check")
        factory = message_factory.MessageFactory(pool)
        request_class = factory.GetPrototype(method.input_type)
        response_class = factory.GetPrototype(method.output_type)
        call = self.channel.unary_unary("/grpc.health.v1.Health/Check",
                                        request_serializer=request_class.SerializeToString,
                                        response_deserializer=response_class.FromString)
        reply = call(request_class(service=FILE_SERVICE), timeout=5)
        self.assertEqual(method.output_type.fields_by_name["status"].enum_type
                         .values_by_number[reply.status].name, "SERVING")


class HealthDuringShutdown(unittest.TestCase):
    def test_not_serving_from_sigterm_through_the_grace_period(self):
        grace_s = 5
        peer = Peer("Leaving", extra={"shutdown_grace_ms": grace_s * 1000}).start()
        channel = grpc.insecure_channel(f"127.0.0.1:{peer.grpc_port}")
        done = threading.Event()
        try:
            with open(os.path.join(peer.dir, "big.bin"), "wb") as f:
                f.truncate(1024 * 1024 * 1024)
            # A download held open by a reader that has stopped reading keeps the peer in its
            # grace period; a watcher and an open reflection stream are there too.
            download = pb2_grpc.FileServiceStub(channel).Download(
                pb2.DownloadRequest(filename="big.bin"), timeout=30)
            next(download)
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=30)
            self.assertEqual(next(watch).status, SERVING)

            def requests():  # one request, then the stream stays open until done
                yield refl_pb2.ServerReflectionRequest(list_services="")
                done.wait(30)

            refl_stream = refl_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                requests(), timeout=30)
            self.assertTrue(next(refl_stream).list_services_response.service)

            t0 = time.monotonic()
            peer.signal(signal.SIGTERM)
            statuses = []
            # The signal is handled on the peer's io_context soon, well within the grace.
            wait_until(lambda: statuses.append(check(channel)) or statuses[-1] == NOT_SERVING,
                       timeout=grace_s)
            self.assertEqual(statuses[-1], NOT_SERVING,
                             [health_pb2.HealthCheckResponse.ServingStatus.Name(s) for s in statuses])
            self.assertEqual(check(channel, FILE_SERVICE), NOT_SERVING)
            self.assertEqual(next(watch).status, NOT_SERVING)
            # All of that within the grace period: the peer is still there, its transfer too.
            self.assertLess(time.monotonic() - t0, grace_s)
            self.assertIsNone(peer.proc.poll())

            download.cancel()
            watch.cancel()
            self.assertEqual(peer.proc.wait(grace_s + 5), 0)
            # Neither the health service nor the reflection stream held the exit back.
            self.assertLess(time.monotonic() - t0, grace_s)
        finally:
            done.set()
            channel.close()
            peer.cleanup()


if __name__ == "__main__":
    unittest.main()
