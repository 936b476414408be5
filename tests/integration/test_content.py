"""Content hashes of real peers on loopback: every shared file's SHA-256 equals what
coreutils' sha256sum prints, /listado and /buscar carry it, the hash cache spares a
restart from reading unchanged files, and a changed file is hashed again."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import PEER_BIN, Peer, metric, test_threads, wait_until  # noqa: E402

PIECE = 65536  # the smallest piece_size that is a multiple of the default chunk_size


def sha256sum(path):
    return subprocess.run(["sha256sum", path], capture_output=True, text=True,
                          check=True).stdout.split()[0]


def hashes(peer):
    """name -> sha256 of the files /listado shows hashed."""
    return {f["name"]: f["sha256"] for f in peer.get("/listado")[1] if "sha256" in f}


def pattern(n):
    return bytes((i * 131 + (i >> 9)) & 0xFF for i in range(n))


class Hashes(unittest.TestCase):
    def test_equal_to_sha256sum_at_every_piece_edge(self):
        sizes = {"empty": 0, "one": 1, "piece-1": PIECE - 1, "piece": PIECE,
                 "piece+1": PIECE + 1, "ten-pieces+7": 10 * PIECE + 7}
        files = {name: pattern(n) for name, n in sizes.items()}
        with Peer("Hashes", files=files, extra={"piece_size": PIECE, **test_threads()}) as peer:
            self.assertTrue(wait_until(lambda: len(hashes(peer)) == len(files), timeout=20))
            got = hashes(peer)
            for name in files:
                self.assertEqual(got[name], sha256sum(os.path.join(peer.dir, name)), name)
            # A /buscar hit carries it too.
            status, hit = peer.get("/buscar?archivo=TEN-PIECES%2B7")
            self.assertEqual(status, 200)
            self.assertEqual(hit["sha256"], got["ten-pieces+7"])
            self.assertEqual(metric(peer, "p2p_hash_pending_files"), 0)
            self.assertEqual(metric(peer, "p2p_hash_bytes_total"), sum(sizes.values()))

    def test_a_remote_hit_carries_the_holders_sha256(self):
        with Peer("Holder", files={"far.bin": pattern(5000)}, extra=test_threads()) as holder:
            self.assertTrue(wait_until(lambda: "far.bin" in hashes(holder), timeout=20))
            with Peer("Asker", extra={"peer_titular": holder.url, **test_threads()}) as asker:
                status, hit = asker.get("/buscar?archivo=far.bin")
                self.assertEqual(status, 200)
                self.assertEqual(hit["via"], holder.url)
                self.assertEqual(hit["sha256"], sha256sum(os.path.join(holder.dir, "far.bin")))

    def test_a_restart_over_unchanged_files_reads_none(self):
        files = {f"f{i:04d}.txt": f"file {i}\n" * (i % 7) for i in range(1000)}
        peer = Peer("Restarted", files=files, extra=test_threads())
        try:
            peer.start()
            self.assertTrue(wait_until(lambda: len(hashes(peer)) == 1000, timeout=30))
            first = hashes(peer)
            self.assertEqual(peer.stop(), 0)
            peer.start()
            # Every sha256 is back from the cache, and no byte was read to get it.
            self.assertTrue(wait_until(lambda: len(hashes(peer)) == 1000, timeout=10))
            self.assertEqual(hashes(peer), first)
            self.assertEqual(metric(peer, "p2p_hash_bytes_total"), 0)
            self.assertEqual(metric(peer, 'p2p_hash_files_total{outcome="cached"}'), 1000)
        finally:
            peer.cleanup()

    def test_a_changed_file_is_hashed_again(self):
        with Peer("Changing", files={"a.txt": "before"}, extra=test_threads()) as peer:
            self.assertTrue(wait_until(lambda: "a.txt" in hashes(peer), timeout=20))
            peer.write("a.txt", "after, and longer")
            want = sha256sum(os.path.join(peer.dir, "a.txt"))
            self.assertTrue(wait_until(lambda: hashes(peer).get("a.txt") == want, timeout=20))

    def test_state_dir_inside_the_share_is_a_config_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            share = os.path.join(tmp, "share")
            os.makedirs(share)
            path = os.path.join(tmp, "p.json")
            with open(path, "w") as f:
                json.dump({"ip": "127.0.0.1", "rest_port": 0, "grpc_port": 0, "directory": share,
                           "state_dir": os.path.join(share, "state")}, f)
            p = subprocess.run([PEER_BIN, "--config", path], capture_output=True, text=True,
                               timeout=10)
            self.assertEqual(p.returncode, 2)
            self.assertIn("state_dir", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(share, "state")))


if __name__ == "__main__":
    unittest.main()
