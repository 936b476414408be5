"""/buscar?holders=N and /buscar?sha256=HEX across real peers on loopback: the holders
behind one asker (its titular, its suplente, a peer it learned) gathered in one answer, a
file found by content under another name, the 400s, and the reply without holders=N
unchanged."""
import hashlib
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import CLI_BIN, wait_until  # noqa: E402
from test_search import UNHURRIED_MS, Network  # noqa: E402

SHARED = b"the same bytes on three peers\n" * 1000
RENAMED = b"held under another name\n" * 100
# The fields a hit had before holders=N and sha256 search; an old client sees no others.
SEED_HIT_FIELDS = {"present", "filename", "grpc_address", "size", "sha256", "via", "peer"}


def hashed(peer, name):
    """The sha256 the peer's /listado shows for `name` (None until it is hashed)."""
    return {f["name"]: f.get("sha256") for f in peer.get("/listado")[1]}.get(name)


class Holders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = Network(UNHURRIED_MS)
        try:
            cls.titular = cls.net.add("T", files={"comun.bin": SHARED})
            cls.suplente = cls.net.add("S", files={"comun.bin": SHARED, "renombrado.txt": RENAMED})
            cls.asker = cls.net.add("A", titular=cls.titular, suplente=cls.suplente)
            # L names the asker as its titular: it announces itself and is learned.
            cls.learned = cls.net.add("L", files={"comun.bin": SHARED}, titular=cls.asker)
        except Exception:
            cls.net.close()
            raise
        cls.holders = (cls.titular, cls.suplente, cls.learned)

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def setUp(self):
        self.assertTrue(wait_until(
            lambda: any(p["role"] == "learned" and p["url"] == self.learned.url
                        for p in self.asker.get("/peers")[1]["peers"]), timeout=10),
            "the asker did not learn L")
        for p in self.holders:
            self.assertTrue(wait_until(lambda: hashed(p, "comun.bin"), timeout=10), p.name)
        self.assertTrue(wait_until(lambda: hashed(self.suplente, "renombrado.txt"), timeout=10))

    def test_three_holders_behind_one_asker_in_one_answer(self):
        status, body = self.asker.get("/buscar?archivo=comun.bin&holders=3", timeout=10)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["present"], body)
        digest = hashlib.sha256(SHARED).hexdigest()
        want = {f"127.0.0.1:{p.grpc_port}": p for p in self.holders}
        got = {h["grpc_address"]: h for h in body["holders"]}
        self.assertEqual(set(got), set(want), body)
        self.assertEqual(len(body["holders"]), 3, body)
        for address, p in want.items():
            self.assertEqual(got[address]["url"], p.url, body)
            self.assertEqual(got[address]["size"], len(SHARED), body)
            self.assertEqual(got[address]["sha256"], digest, body)
        # The first holder's fields are the usual ones, the first listed holder's.
        self.assertEqual(body["grpc_address"], body["holders"][0]["grpc_address"])
        self.assertEqual(body["filename"], "comun.bin")
        # Fewer asked for, fewer given.
        _, one = self.asker.get("/buscar?archivo=comun.bin&holders=1", timeout=10)
        self.assertEqual(len(one["holders"]), 1, one)
        # A holder that has it lists itself first, with its own REST URL.
        _, own = self.titular.get("/buscar?archivo=comun.bin&holders=1")
        self.assertEqual(own["holders"], [{"grpc_address": f"127.0.0.1:{self.titular.grpc_port}",
                                          "url": self.titular.url, "size": len(SHARED),
                                          "sha256": digest}])

    def test_p2p_search_lists_every_holder_and_asks_for_content(self):
        def p2p(*args):
            return subprocess.run([CLI_BIN, "search", "comun.bin", "--peer",
                                   self.asker.url, *args], capture_output=True, text=True,
                                  timeout=30)
        digest = hashlib.sha256(SHARED).hexdigest()
        r = p2p("--holders", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3, r.stdout)
        for p in self.holders:
            self.assertIn(f"comun.bin: at 127.0.0.1:{p.grpc_port} (", r.stdout)
        for line in lines:
            self.assertTrue(line.endswith(f", sha256 {digest})"), line)
        # By content, in capitals too: sent to the peer, which matches name and content.
        r = p2p("--holders", "3", "--sha256", digest.upper())
        self.assertEqual((r.returncode, len(r.stdout.splitlines())), (0, 3), r.stdout + r.stderr)
        r = p2p("--sha256", hashlib.sha256(RENAMED).hexdigest())
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)  # not found: other content
        self.assertIn("with sha256", r.stderr)
        r = p2p("--sha256", "abc")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("64 hex digits", r.stderr)
        r = p2p("--holders", "17")
        self.assertNotEqual(r.returncode, 0, r.stdout)

    def test_found_by_content_under_another_name(self):
        digest = hashlib.sha256(RENAMED).hexdigest()
        for query in (f"sha256={digest}", f"sha256={digest.upper()}&holders=2"):
            with self.subTest(query=query):
                status, body = self.asker.get("/buscar?" + query, timeout=10)
                self.assertEqual(status, 200, body)
                self.assertTrue(body["present"], body)
                self.assertEqual(body["filename"], "renombrado.txt")
                self.assertEqual(body["grpc_address"], f"127.0.0.1:{self.suplente.grpc_port}")
                self.assertEqual(body["sha256"], digest)
                self.assertEqual(body["size"], len(RENAMED))
        # With a name too, both must match.
        _, body = self.asker.get(f"/buscar?archivo=comun.bin&sha256={digest}", timeout=10)
        self.assertEqual(body, {"present": False})
        _, body = self.asker.get("/buscar?sha256=" + "0" * 64, timeout=10)
        self.assertEqual(body, {"present": False})

    def test_bad_holders_and_sha256_are_400_saying_why(self):
        cases = {"archivo=comun.bin&holders=0": "holders must be a whole number 1..16",
                 "archivo=comun.bin&holders=17": "holders must be a whole number 1..16",
                 "sha256=abc": "sha256 must be 64 hex digits",
                 "sha256=" + "g" * 64: "sha256 must be 64 hex digits",
                 "holders=3": "missing query parameter archivo"}
        for query, why in cases.items():
            with self.subTest(query=query):
                status, body = self.asker.get("/buscar?" + query)
                self.assertEqual(status, 400, body)
                self.assertIn(why, body["error"])

    def test_without_holders_the_reply_is_the_seed_one(self):
        status, body = self.asker.get("/buscar?archivo=comun.bin", timeout=10)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["present"], body)
        self.assertNotIn("holders", body)
        self.assertLessEqual(set(body), SEED_HIT_FIELDS, body)
        # The sequential walk: the titular first, and it has it.
        self.assertEqual(body["grpc_address"], f"127.0.0.1:{self.titular.grpc_port}")
        self.assertEqual(body["via"], self.titular.url)


if __name__ == "__main__":
    unittest.main()
