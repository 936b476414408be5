"""Discovery through the DHT: real peers on loopback, each an OpenDHT node joined through its
titular, find files no walk could reach (the asker forwards nothing: ttl 0), by name, by
content and with holders=N; /health and announcements carry the DHT port; a stopped peer's
values vanish within their ttl; a DHT port in use is a clear error."""
import hashlib
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import Peer, exit_if_built_without_dht, metric, wait_log, wait_until  # noqa: E402
from test_holders import hashed  # noqa: E402
from test_search import TIMEOUT_MS, Network  # noqa: E402

TIMEOUT_S = TIMEOUT_MS / 1000

DHT = {"dht": True, "dht_port": 0, "dht_value_ttl_s": 4}
LISTENING = re.compile(r"DHT node listening on 127\.0\.0\.1:(\d+)")
SHARED = b"held by three peers\n" * 500


def dht_port(peer):
    lines = wait_log(peer, LISTENING)
    assert lines, f"{peer.name} logged no DHT port"
    return int(LISTENING.search(lines[0]).group(1))


class Dht(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = Network()
        try:
            cls.hub = cls.net.add("H", **DHT)
            cls.holders = [cls.net.add(f"P{i}", files={f"solo{i}.txt": f"only on P{i}\n" * 50,
                                                       "comun.bin": SHARED},
                                       titular=cls.hub, **DHT) for i in range(1, 4)]
            # The asker forwards nothing (ttl 0): what it finds elsewhere, the DHT found.
            cls.asker = cls.net.add("A", titular=cls.hub, ttl=0, **DHT)
        except Exception:
            cls.net.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def search(self, query):
        return self.asker.get("/buscar?" + query, timeout=10)

    def found_via_dht(self, query, check=lambda body: True, timeout=20):
        """The reply to `query` once it is a hit that `check` accepts (a put reaches the DHT
        once its node knows another), else the last reply."""
        last = {}

        def hit():
            nonlocal last
            status, last = self.search(query)
            return status == 200 and last.get("present") and check(last)
        wait_until(hit, timeout=timeout, step=0.2)
        return last

    def test_health_and_log_give_the_dht_port(self):
        for p in [self.hub, *self.holders, self.asker]:
            status, health = p.get("/health")
            self.assertEqual(status, 200)
            self.assertEqual(health["dht_port"], dht_port(p), p.name)

    def test_a_file_no_walk_reaches_is_found_through_the_dht(self):
        p3 = self.holders[2]
        body = self.found_via_dht("archivo=SOLO3.TXT")
        self.assertTrue(body.get("present"), body)
        self.assertEqual(body["grpc_address"], f"127.0.0.1:{p3.grpc_port}")
        self.assertEqual(body["via"], p3.url)
        self.assertEqual(body["filename"], "solo3.txt")
        self.assertGreaterEqual(metric(self.asker, 'p2p_searches_total{outcome="dht"}'), 1)
        self.assertGreater(metric(self.asker, "p2p_dht_nodes"), 0)
        self.assertGreaterEqual(metric(p3, "p2p_dht_published_values"), 2)
        self.assertTrue(wait_log(self.asker, "the DHT named"), "no log line says the DHT answered")
        # A name nobody has: a miss, in time.
        status, miss = self.search("archivo=nadie.txt")
        self.assertEqual((status, miss), (200, {"present": False}))

    def test_by_content_and_every_holder_in_one_lookup(self):
        digest = hashlib.sha256(SHARED).hexdigest()
        self.assertTrue(wait_until(lambda: all(hashed(p, "comun.bin") for p in self.holders),
                                   timeout=10))
        body = self.found_via_dht(f"sha256={digest}&holders=3",
                                  check=lambda b: len(b.get("holders", [])) == 3)
        want = {f"127.0.0.1:{p.grpc_port}" for p in self.holders}
        self.assertEqual({h["grpc_address"] for h in body.get("holders", [])}, want, body)
        for h in body["holders"]:
            self.assertEqual(h["sha256"], digest)
            self.assertEqual(h["size"], len(SHARED))

    def test_a_stopped_peer_is_not_returned_once_its_values_expire(self):
        gone = self.net.add("G", files={"efimero.txt": "soon gone\n"}, titular=self.hub, **DHT)
        body = self.found_via_dht("archivo=efimero.txt")
        self.assertEqual(body.get("grpc_address"), f"127.0.0.1:{gone.grpc_port}", body)
        gone.stop()
        # Its values are no longer announced again: within their ttl (4 s) they vanish.
        self.assertTrue(wait_until(lambda: self.search("archivo=efimero.txt")[1] == {"present": False},
                                   timeout=30, step=0.5))

    def test_a_dht_port_in_use_is_a_clear_error(self):
        taken = dht_port(self.hub)
        p = Peer("Clash", extra={"dht": True, "dht_port": taken})
        try:
            with self.assertRaises(RuntimeError):
                p.start()
            self.assertNotEqual(p.proc.wait(10), 0)
            self.assertTrue(any("DHT" in line and str(taken) in line for line in p.lines), p.lines)
        finally:
            p.cleanup()


class BootstrapOnly(unittest.TestCase):
    """Three peers with no titular or suplente, joined through one bootstrap node."""

    def setUp(self):
        self.net = Network()
        self.first = self.net.add("B1", files={"uno.txt": "uno\n" * 10}, **DHT)
        node = [f"127.0.0.1:{dht_port(self.first)}"]
        self.second = self.net.add("B2", files={"dos.txt": "dos\n" * 10}, dht_bootstrap=node, **DHT)
        self.third = self.net.add("B3", dht_bootstrap=node, **DHT)

    def tearDown(self):
        self.net.close()

    def found(self, peer, query, timeout=20):
        last = {}

        def hit():
            nonlocal last
            last = peer.get("/buscar?" + query, timeout=10)[1]
            return last.get("present", False)
        wait_until(hit, timeout=timeout, step=0.2)
        return last

    def test_found_by_name_and_content_through_one_bootstrap(self):
        self.assertEqual(self.found(self.third, "archivo=dos.txt").get("grpc_address"),
                         f"127.0.0.1:{self.second.grpc_port}")
        self.assertEqual(self.found(self.second, "archivo=uno.txt").get("grpc_address"),
                         f"127.0.0.1:{self.first.grpc_port}")
        self.assertTrue(wait_until(lambda: hashed(self.second, "dos.txt"), timeout=10))
        by_content = self.found(self.first, "sha256=" + hashed(self.second, "dos.txt"))
        self.assertEqual(by_content.get("filename"), "dos.txt", by_content)

    def test_a_file_added_later_is_found_and_a_removed_one_stops_being_found(self):
        self.second.write("nuevo.txt", "added while running\n")
        t0 = time.monotonic()
        self.assertTrue(self.found(self.third, "archivo=nuevo.txt").get("present"))
        self.assertLess(time.monotonic() - t0, 20)
        os.remove(os.path.join(self.second.dir, "nuevo.txt"))
        # Withdrawn: no longer announced, and the stored copies expire (ttl 4 s here).
        self.assertTrue(wait_until(
            lambda: self.third.get("/buscar?archivo=nuevo.txt", timeout=10)[1] == {"present": False},
            timeout=30, step=0.5))

    def test_a_killed_holder_named_by_the_dht_does_not_stall_a_search(self):
        self.assertTrue(self.found(self.third, "archivo=dos.txt").get("present"))
        self.second.proc.kill()
        self.second.proc.wait()
        # Its values outlive it until they expire; the search names it at once, without
        # waiting on it (a claim: p2p get verifies and fails over).
        t0 = time.monotonic()
        status, body = self.third.get("/buscar?archivo=dos.txt", timeout=10)
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - t0, TIMEOUT_S + 2, body)  # the deadline, not more
        self.assertTrue(wait_until(
            lambda: self.third.get("/buscar?archivo=dos.txt", timeout=10)[1] == {"present": False},
            timeout=30, step=0.5))


if __name__ == "__main__":
    exit_if_built_without_dht("integration/dht")
    unittest.main()
