"""`p2p get` as a verified, multi-source, resumable download between real peers on loopback:
three holders share one download byte-exactly, a holder killed mid-way or one whose bytes rotted
on disk costs nothing but itself, a rotten holder alone fails with its own exit status, an
interrupted get resumes fetching only what is missing, and --sha256 chooses between two
different files under one name."""
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import CLI_BIN, Peer, cleanup_all, metric, wait_until  # noqa: E402

PIECE = 65536  # small pieces, so a few MB is many of them
EXIT_DID_NOT_VERIFY = 7


def pattern(n, seed):
    return hashlib.shake_256(seed.encode()).digest(n)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sent_bytes(peer):
    return metric(peer, "p2p_grpc_sent_bytes_total")


def hashed(peer, name):
    """The sha256 the peer lists for `name`, or None before it has hashed it."""
    for f in peer.get("/listado")[1]:
        if f["name"] == name:
            return f.get("sha256")
    return None


def address(peer):
    return f"127.0.0.1:{peer.grpc_port}"


def verified_pieces(state_file):
    """How many pieces the record of a part file calls verified (0 before it exists)."""
    try:
        with open(state_file) as f:
            words = f.read().split()
    except FileNotFoundError:
        return 0
    if "verified" not in words:
        return 0
    bits = words[words.index("verified") + 1]
    return 0 if bits == "-" else sum(bin(int(c, 16)).count("1") for c in bits)


def summary(stderr, peer):
    """(verified, rejected, rest of the line) of the holder's summary line in `stderr`."""
    m = re.search(re.escape(address(peer)) + r": (\d+) pieces verified, (\d+) rejected, (.*)$",
                  stderr, re.M)
    assert m, f"no summary line for {address(peer)} in {stderr!r}"
    return int(m.group(1)), int(m.group(2)), m.group(3)


class Swarm(unittest.TestCase):
    """Three holders of one file; the first asks the other two (titular, suplente)."""

    NAME = "film.bin"
    SIZE = 6 * 1024 * 1024 + 1234  # 97 pieces

    def setUp(self):
        self.data = pattern(self.SIZE, self.id())
        cfg = {"piece_size": PIECE, "timeout_ms": 2000}
        files = {self.NAME: self.data}
        self.h3 = Peer("H3", files=files, extra=cfg).start()
        self.h2 = Peer("H2", files=files, extra=cfg).start()
        self.h1 = Peer("H1", files=files, extra={**cfg, "peer_titular": self.h2.url,
                                                  "peer_suplente": self.h3.url}).start()
        self.holders = [self.h1, self.h2, self.h3]
        for h in self.holders:
            self.assertTrue(wait_until(lambda: hashed(h, self.NAME) == sha256(self.data),
                                       timeout=30), h.name)
        self.out = tempfile.mkdtemp(prefix="p2p-get-")

    def tearDown(self):
        try:
            cleanup_all(self.holders)
        finally:
            subprocess.run(["rm", "-rf", self.out])

    def get(self, *args):
        return [CLI_BIN, "get", self.NAME, "-o", self.out, *args]

    def downloaded(self):
        with open(os.path.join(self.out, self.NAME), "rb") as f:
            return f.read()

    def test_three_holders_each_send_part_of_a_byte_exact_file(self):
        # A rate limit long enough that every holder is connected well before the end: at 3 MB/s
        # the 6.3 MB take about 2 s; at 20 MB/s (0.3 s) a TSan build once finished before its
        # third channel was up.
        r = subprocess.run(self.get("--peer", self.h1.url, "--sources", "3", "--max-rate", "3M"),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.downloaded(), self.data)
        self.assertEqual(os.listdir(self.out), [self.NAME])  # no part file, no record left
        self.assertIn(f"sha256 {sha256(self.data)}", r.stdout)
        for h in self.holders:
            verified, rejected, rest = summary(r.stderr, h)
            self.assertGreater(verified, 0, r.stderr)
            self.assertEqual(rejected, 0, r.stderr)
            self.assertNotIn("dropped", rest)
            self.assertGreater(sent_bytes(h), 0)

    def test_a_holder_killed_mid_way_costs_only_itself(self):
        p = subprocess.Popen(self.get("--peer", self.h1.url, "--sources", "3", "--max-rate", "2M"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Mid-way: it has sent something, and the download is not done.
            self.assertTrue(wait_until(lambda: sent_bytes(self.h3) > 0, timeout=30))
            self.assertFalse(os.path.exists(os.path.join(self.out, self.NAME)))
            self.h3.proc.kill()
            stdout, stderr = p.communicate(timeout=120)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 0, stderr)
        self.assertEqual(self.downloaded(), self.data)
        self.assertIn("dropped", summary(stderr, self.h3)[2])
        self.assertGreater(summary(stderr, self.h1)[0] + summary(stderr, self.h2)[0], 0)

    def rot(self, peer):
        """Changes one byte in every piece of the peer's copy, keeping its size and mtime, so
        its index (keyed by size and mtime) still offers the manifest of the good bytes."""
        path = os.path.join(peer.dir, self.NAME)
        st = os.stat(path)
        with open(path, "r+b") as f:
            for offset in range(PIECE // 2, self.SIZE, PIECE):
                f.seek(offset)
                f.write(bytes([self.data[offset] ^ 0xFF]))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assertEqual(hashed(peer, self.NAME), sha256(self.data))

    def test_bit_rot_is_rejected_and_fetched_from_the_others(self):
        self.rot(self.h2)
        # Slow enough that the rotten holder delivers a piece before the others are done: at
        # 3 MB/s about 2 s, as above; at 20 MB/s (0.3 s) a loaded machine could let the other
        # two finish every piece, the rotten one's included, before its channel was up.
        r = subprocess.run(self.get("--peer", self.h1.url, "--sources", "3", "--max-rate", "3M"),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.downloaded(), self.data)
        verified, rejected, rest = summary(r.stderr, self.h2)
        self.assertEqual(verified, 0, r.stderr)
        self.assertEqual(rejected, 1, r.stderr)  # its first bad piece, and it is dropped
        self.assertIn("dropped: sent bad data", rest)

    def test_bit_rot_alone_does_not_verify_and_stores_nothing(self):
        self.rot(self.h2)
        r = subprocess.run(self.get("--from", address(self.h2)),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, EXIT_DID_NOT_VERIFY, r.stderr)
        self.assertIn("data did not verify", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, self.NAME)))
        # The part file and its record stay for a later get from a good holder.
        self.assertEqual(sorted(os.listdir(self.out)),
                         [".p2p-part-" + self.NAME, ".p2p-state-" + self.NAME])
        r = subprocess.run(self.get("--from", address(self.h1)),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.downloaded(), self.data)

    def test_an_interrupted_get_resumes_with_only_what_is_missing(self):
        holder = self.h3
        state = os.path.join(self.out, ".p2p-state-" + self.NAME)
        p = subprocess.Popen(self.get("--from", address(holder), "--max-rate", "2M"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_until(lambda: verified_pieces(state) >= 4, timeout=30))
            p.send_signal(signal.SIGINT)
            _, stderr = p.communicate(timeout=30)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 130, stderr)
        self.assertIn("cancelled", stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, self.NAME)))
        pieces = -(-self.SIZE // PIECE)
        # What the holder sent for the first get is counted once its stream has ended.
        self.assertTrue(wait_until(lambda: metric(holder, "p2p_grpc_transfers_active") == 0,
                                   timeout=10))
        before = sent_bytes(holder)
        r = subprocess.run(self.get("--from", address(holder)), capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.downloaded(), self.data)
        m = re.search(r"resuming: (\d+) of (\d+) pieces already verified", r.stderr)
        self.assertTrue(m, r.stderr)
        resumed = int(m.group(1))
        self.assertEqual(int(m.group(2)), pieces)
        self.assertGreaterEqual(resumed, 4)
        self.assertLess(resumed, pieces)
        # Counted by the holder: at most one piece beyond what was missing.
        self.assertLessEqual(sent_bytes(holder) - before, (pieces - resumed + 1) * PIECE)


class TwoContents(unittest.TestCase):
    """One name, two different files on two holders."""

    NAME = "report.pdf"

    def setUp(self):
        self.a = pattern(300 * 1024, "a")
        self.b = pattern(200 * 1024 + 5, "b")
        cfg = {"piece_size": PIECE, "timeout_ms": 2000}
        self.other = Peer("Other", files={self.NAME: self.b}, extra=cfg).start()
        self.near = Peer("Near", files={self.NAME: self.a},
                         extra={**cfg, "peer_titular": self.other.url}).start()
        for peer, data in ((self.near, self.a), (self.other, self.b)):
            self.assertTrue(wait_until(lambda: hashed(peer, self.NAME) == sha256(data),
                                       timeout=30), peer.name)
        self.out = tempfile.mkdtemp(prefix="p2p-get-")

    def tearDown(self):
        try:
            cleanup_all([self.near, self.other])
        finally:
            subprocess.run(["rm", "-rf", self.out])

    def get(self, *args):
        return subprocess.run([CLI_BIN, "get", self.NAME, "--peer", self.near.url, "-o", self.out,
                               *args], capture_output=True, text=True, timeout=60)

    def downloaded(self):
        with open(os.path.join(self.out, self.NAME), "rb") as f:
            return f.read()

    def test_sha256_picks_the_content(self):
        r = self.get("--sha256", sha256(self.b).upper())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.downloaded(), self.b)
        self.assertNotIn("different file", r.stderr)
        r = self.get("--sha256", sha256(self.a), "-f")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.downloaded(), self.a)

    def test_content_nobody_has_is_not_found(self):
        r = self.get("--sha256", "0" * 64)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("not found", r.stderr)
        self.assertIn(sha256(self.a), r.stderr)  # it says what the holders have instead
        self.assertEqual(os.listdir(self.out), [])
        r = self.get("--sha256", "xyz")
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_disagreeing_holders_are_named_in_one_warning(self):
        r = self.get()
        self.assertEqual(r.returncode, 0, r.stderr)
        # A tie: the nearest holder's content (the asker's own), the other one named.
        self.assertEqual(self.downloaded(), self.a)
        warnings = [line for line in r.stderr.splitlines() if "different file" in line]
        self.assertEqual(warnings, [f"p2p: warning: 1 holder has a different file under this "
                                    f"name: sha256 {sha256(self.b)}; use --sha256 to choose"])


if __name__ == "__main__":
    unittest.main()
