"""GET /metrics on real peers, read with Debian's python3-prometheus-client text parser (a
parser we did not write): every family is there with its type, histograms are
consistent, and the counters move by exactly what the test did."""
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request

import grpc
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import Peer, raw_exchange, split_responses, wait_until  # noqa: E402
from transfer_stubs import pb2, pb2_grpc  # noqa: E402

FAMILIES = {
    "p2p_http_requests": "counter",
    "p2p_http_request_duration_seconds": "histogram",
    "p2p_http_connections": "gauge",
    "p2p_http_rejected": "counter",
    "p2p_searches": "counter",
    "p2p_search_duration_seconds": "histogram",
    "p2p_grpc_transfers": "counter",
    "p2p_grpc_transfer_duration_seconds": "histogram",
    "p2p_grpc_sent_bytes": "counter",
    "p2p_grpc_received_bytes": "counter",
    "p2p_grpc_transfers_active": "gauge",
    "p2p_peer_up": "gauge",
    "p2p_peer_breaker_state": "gauge",
    "p2p_peer_failures": "gauge",
    "p2p_index_files": "gauge",
    "p2p_index_bytes": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_start_time_seconds": "gauge",
}


class Scrape:
    """One scrape: families by name, and sample values by (sample name, labels)."""

    def __init__(self, peer):
        with urllib.request.urlopen(peer.url + "/metrics", timeout=5) as r:
            self.content_type = r.headers["Content-Type"]
            self.text = r.read().decode()
        self.families = {f.name: f for f in text_string_to_metric_families(self.text)}
        self.values = {}
        for f in self.families.values():
            for s in f.samples:
                self.values[(s.name, frozenset(s.labels.items()))] = s.value

    def get(self, name, **labels):
        return self.values.get((name, frozenset(labels.items())), 0)


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = os.urandom(300_000)
        cls.holder = Peer("Holder", files={"datos.bin": cls.data, "otro.txt": "x"}).start()
        # The asker's titular is a port nobody listens on (1, privileged: no test's peer can
        # be given it, as test_search and test_transfer use it); its suplente is the holder.
        cls.dead = "http://127.0.0.1:1"
        cls.asker = Peer("Asker", extra={"peer_titular": cls.dead, "peer_suplente": cls.holder.url,
                                         "timeout_ms": 1000}).start()
        # The holder learns the asker from its announcement, and forwards searches to it.
        assert wait_until(lambda: any(p["url"] == cls.asker.url for p in cls.holder.get("/peers")[1]["peers"]),
                          timeout=10), "the asker never announced itself to the holder"

    @classmethod
    def tearDownClass(cls):
        cls.asker.cleanup()
        cls.holder.cleanup()

    def test_format_and_families(self):
        s = Scrape(self.holder)
        self.assertEqual(s.content_type, "text/plain; version=0.0.4; charset=utf-8")
        for name, kind in FAMILIES.items():
            self.assertIn(name, s.families, name)
            self.assertEqual(s.families[name].type, kind, name)
            self.assertTrue(s.families[name].documentation, name)
        self.assertEqual(s.get("p2p_index_files"), 2)
        self.assertEqual(s.get("p2p_index_bytes"), len(self.data) + 1)
        self.assertGreater(s.get("process_resident_memory_bytes"), 1e6)
        self.assertGreater(s.get("process_open_fds"), 3)
        self.assertGreaterEqual(s.get("p2p_http_connections"), 1)

    def test_histograms_are_consistent(self):
        self.holder.get("/buscar?archivo=datos.bin")
        s = Scrape(self.holder)
        checked = 0
        for name, f in s.families.items():
            if f.type != "histogram":
                continue
            series = {}
            for sample in f.samples:
                key = frozenset((k, v) for k, v in sample.labels.items() if k != "le")
                series.setdefault(key, {})[sample.name + "|" + sample.labels.get("le", "")] = sample.value
            for key, values in series.items():
                buckets = sorted(((float(k.split("|")[1]), v) for k, v in values.items() if "_bucket|" in k))
                counts = [v for _, v in buckets]
                self.assertEqual(counts, sorted(counts), f"{name} {dict(key)}: buckets not cumulative")
                self.assertEqual(buckets[-1][0], float("inf"))
                self.assertEqual(buckets[-1][1], values[name + "_count|"], f"{name} {dict(key)}")
                self.assertGreaterEqual(values[name + "_sum|"], 0)
                checked += 1
        self.assertGreater(checked, 5)

    def test_rest_counters_move_by_what_was_asked(self):
        before = Scrape(self.holder)
        for _ in range(5):
            self.holder.get("/listado")
        for _ in range(3):
            self.holder.get("/nada")
        self.holder.get("/buscar?archivo=")  # 400
        after = Scrape(self.holder)

        def moved(**labels):
            return after.get("p2p_http_requests_total", **labels) - before.get("p2p_http_requests_total", **labels)

        self.assertEqual(moved(method="GET", route="/listado", status="200"), 5)
        self.assertEqual(moved(method="other", route="other", status="404"), 3)
        self.assertEqual(moved(method="GET", route="/buscar", status="400"), 1)
        # The first scrape itself is counted by the second.
        self.assertEqual(moved(method="GET", route="/metrics", status="200"), 1)
        self.assertEqual(after.get("p2p_http_request_duration_seconds_count", method="GET", route="/listado",
                                   status="200") - before.get("p2p_http_request_duration_seconds_count",
                                                              method="GET", route="/listado", status="200"), 5)

    def test_counters_move_under_the_bench(self):
        """p2p-bench --quick --target URL loads a running peer; its counters move by what
        the bench counted (plus what was in flight when each run stopped)."""
        before = Scrape(self.holder)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "b.json")
            r = subprocess.run([os.path.join(os.environ["P2P_BUILD_DIR"], "p2p-bench"), "--quick", "--target",
                                self.holder.url, "-o", out, "--workdir", tmp],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                rows = json.load(f)["rest"]
        after = Scrape(self.holder)
        for endpoint, route in (("listado", "/listado"), ("health", "/health"), ("buscar", "/buscar")):
            mine = [row for row in rows if row["endpoint"] == endpoint]
            self.assertTrue(mine and all(row["errors"] == 0 for row in mine), rows)
            counted = sum(row["requests"] for row in mine)
            in_flight = sum(row["concurrency"] for row in mine)
            moved = (after.get("p2p_http_requests_total", method="GET", route=route, status="200")
                     - before.get("p2p_http_requests_total", method="GET", route=route, status="200"))
            extra = 1 if endpoint == "listado" else 0  # the bench's own look at the listing
            self.assertGreaterEqual(moved, counted + extra, endpoint)
            self.assertLessEqual(moved, counted + extra + in_flight, endpoint)

    def test_rejections_before_routing_are_counted(self):
        before = Scrape(self.holder)
        big = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        self.assertEqual(split_responses(raw_exchange(self.holder.rest_port, big))[0][0], 431)
        self.assertEqual(split_responses(raw_exchange(self.holder.rest_port, b"NOT HTTP AT ALL\r\n\r\n"))[0][0],
                         400)
        after = Scrape(self.holder)
        for reason, n in (("headers_too_large", 1), ("bad_request", 1), ("uri_too_long", 0)):
            self.assertEqual(after.get("p2p_http_rejected_total", reason=reason)
                             - before.get("p2p_http_rejected_total", reason=reason), n, reason)

    def test_searches_by_outcome_and_peer_health(self):
        before_h, before_a = Scrape(self.holder), Scrape(self.asker)
        self.assertEqual(self.asker.get("/buscar?archivo=datos.bin")[1]["present"], True)  # remote
        self.assertEqual(self.asker.get("/buscar?archivo=nadie.txt")[1], {"present": False})  # miss
        self.assertEqual(self.holder.get("/buscar?archivo=DATOS.bin")[1]["present"], True)  # local
        a, h = Scrape(self.asker), Scrape(self.holder)

        def moved(after, before, outcome):
            return (after.get("p2p_searches_total", outcome=outcome)
                    - before.get("p2p_searches_total", outcome=outcome))

        self.assertEqual(moved(a, before_a, "remote"), 1)
        self.assertEqual(moved(a, before_a, "local"), 0)
        # The miss twice: the asker's own, and the holder forwarding it back (a query seen
        # before is answered from the local index: a miss).
        self.assertEqual(moved(a, before_a, "miss"), 2)
        # The holder: the asker's forwarded hit and its own, and the forwarded miss.
        self.assertEqual(moved(h, before_h, "local"), 2)
        self.assertEqual(moved(h, before_h, "miss"), 1)
        self.assertEqual(moved(h, before_h, "remote"), 0)
        self.assertEqual(a.get("p2p_peer_up", peer=self.dead, role="titular"), 0)
        self.assertGreater(a.get("p2p_peer_failures", peer=self.dead, role="titular"), 0)
        self.assertEqual(a.get("p2p_peer_up", peer=self.holder.url, role="suplente"), 1)
        states = {st: a.get("p2p_peer_breaker_state", peer=self.holder.url, role="suplente", state=st)
                  for st in ("closed", "open", "half_open")}
        self.assertEqual(states, {"closed": 1, "open": 0, "half_open": 0})

    def test_transfers_by_method_code_and_bytes(self):
        before = Scrape(self.holder)
        upload = os.urandom(123_457)
        with grpc.insecure_channel(f"127.0.0.1:{self.holder.grpc_port}") as ch:
            stub = pb2_grpc.FileServiceStub(ch)
            got = b"".join(r.chunk for r in stub.Download(pb2.DownloadRequest(filename="datos.bin"), timeout=10))
            self.assertEqual(got, self.data)
            with self.assertRaises(grpc.RpcError) as cm:
                b"".join(r.chunk for r in stub.Download(pb2.DownloadRequest(filename="falta.bin"), timeout=10))
            self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)

            def chunks(name, data):
                for i in range(0, len(data), 65536):
                    yield pb2.UploadRequest(filename=name, chunk=data[i:i + 65536])

            self.assertTrue(stub.Upload(chunks("subido.bin", upload), timeout=10).ok)
            with self.assertRaises(grpc.RpcError) as cm:
                stub.Upload(chunks("subido.bin", upload), timeout=10)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        # A call's status reaches the client before gRPC releases it on the peer (OnDone),
        # and only then does it stop counting as active.
        scrapes = []
        wait_until(lambda: scrapes.append(Scrape(self.holder)) or scrapes[-1].get("p2p_grpc_transfers_active") == 0,
                   timeout=10)
        after = scrapes[-1]

        def moved(name, **labels):
            return after.get(name, **labels) - before.get(name, **labels)

        self.assertEqual(moved("p2p_grpc_transfers_total", method="Download", code="OK"), 1)
        self.assertEqual(moved("p2p_grpc_transfers_total", method="Download", code="NOT_FOUND"), 1)
        self.assertEqual(moved("p2p_grpc_transfers_total", method="Upload", code="OK"), 1)
        self.assertEqual(moved("p2p_grpc_transfers_total", method="Upload", code="ALREADY_EXISTS"), 1)
        self.assertEqual(moved("p2p_grpc_sent_bytes_total"), len(self.data))
        self.assertEqual(moved("p2p_grpc_received_bytes_total"), len(upload))
        self.assertEqual(moved("p2p_grpc_transfer_duration_seconds_count", method="Download"), 2)
        self.assertEqual(moved("p2p_grpc_transfer_duration_seconds_count", method="Upload"), 2)
        self.assertEqual(after.get("p2p_grpc_transfers_active"), 0)


if __name__ == "__main__":
    unittest.main()
