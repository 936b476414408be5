"""A small swarm in the suite: 24 real peers on loopback in the original's topology (a random
titular and suplente each among those started before, one unique file each), every peer
searching files held elsewhere, with the DHT and with the walk alone; then a fifth of the
peers is killed and the living peers' files are searched again. scripts/swarm runs the same
at any size (tests/integration/swarm.py)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import swarm  # noqa: E402
from peerlib import exit_if_built_without_dht  # noqa: E402

N = 24
SEARCHES = 2  # files each peer searches, each held by one other peer


class SmallSwarm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lines = []
        # No quiet window (a measurement for scripts/swarm): the messages counted are gross.
        cls.results = swarm.run(N, SEARCHES, 0.2, ["dht", "walk"], say=lines.append, quiet_s=0)
        print("\n" + "\n".join(lines) + "\n" + swarm.table(N, cls.results), file=sys.stderr)

    def test_the_dht_finds_every_file(self):
        before = self.results["dht"]["before"]
        self.assertEqual(before["searches"], N * SEARCHES)
        self.assertEqual(before["found_pct"], 100.0)
        # Its lookups were counted: the DHT answered, not the walk.
        self.assertGreater(before["dht_msgs_per_search"], 0)

    def test_after_a_fifth_is_killed_the_living_peers_files_are_still_found(self):
        after = self.results["dht"]["after_kill"]
        self.assertEqual(after["searches"], (N - N // 5) * SEARCHES)
        self.assertEqual(after["found_pct"], 100.0)

    def test_the_walk_alone_finds_no_more_than_the_dht(self):
        for phase in ("before", "after_kill"):
            walk, dht = self.results["walk"][phase], self.results["dht"][phase]
            self.assertEqual(walk["searches"], dht["searches"])
            self.assertIsNone(walk["dht_msgs_per_search"])
            self.assertLessEqual(walk["found_pct"], dht["found_pct"])


if __name__ == "__main__":
    exit_if_built_without_dht("integration/swarm")
    unittest.main()
