"""A swarm of real peers on loopback, grown from the original's topology: each peer has a
random titular and suplente among the peers started before it and one unique file; every
peer searches files held elsewhere, with the DHT on and off; then a fifth of the peers are
killed and the living peers' files are searched again. scripts/swarm runs it from the
command line; test_swarm.py runs a small one in the suite."""
import math
import os
import random
import resource
import signal
import statistics
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import Peer, cleanup_all, metric, metrics, pss_kb, rss_kb, wait_until  # noqa: E402

INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"
# What every swarm peer gets: one io thread (300 peers share 2 cores), the original's ttl,
# a deadline a search on a loaded host keeps within.
PEER_CONFIG = {"threads": 1, "ttl": 3, "timeout_ms": 2000}


def raise_limits(n, say=print):
    """Room for n peers: file descriptors for ourselves, and inotify instances (one per
    peer; 128 per user by default) when we may raise them. A peer beyond the inotify limit
    still runs, rescanning its folder every 2 s."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 16 * n + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        with open(INOTIFY_LIMIT) as f:
            limit = int(f.read())
    except OSError:
        return
    if limit >= n + 16:
        return
    if os.geteuid() == 0:
        with open(INOTIFY_LIMIT, "w") as f:
            f.write(str(n + 64))
        say(f"swarm: raised fs.inotify.max_user_instances from {limit} to {n + 64} (as root)")
    else:
        say(f"swarm: fs.inotify.max_user_instances is {limit}: peers beyond it rescan their "
            "folders every 2 s instead of watching them (run as root to raise it)")


LOOKUP_TYPES = ("find", "get")
ALL_TYPES = ("ping", "find", "get", "listen", "put")


def dht_messages_sent(peers):
    """{type: messages} the living peers' DHT nodes have sent so far, one scrape each (find
    and get: what lookups cost)."""
    total = dict.fromkeys(ALL_TYPES, 0.0)
    for p in peers:
        try:
            values = metrics(p, *(f'p2p_dht_messages_total{{direction="out",type="{t}"}}'
                                  for t in ALL_TYPES))
        except OSError:
            continue
        for t, v in zip(ALL_TYPES, values):
            total[t] += v
    return total


def lookups(sent):
    return sum(sent[t] for t in LOOKUP_TYPES)


class Upkeep:
    """What the DHT sends while nobody searches (refreshing its routing table, re-announcing
    values), per second, over a quiet window: subtracted from a search round's messages so
    that what a search costs is counted alone. The window is a measurement (scripts/swarm,
    p2p-bench), not a wait for something: the suite's swarm asks for none."""

    def __init__(self, peers, seconds):
        t0 = time.monotonic()
        before = dht_messages_sent(peers)
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        after = dht_messages_sent(peers)
        self.lookups_per_s = (lookups(after) - lookups(before)) / elapsed
        # Every message a node sends at rest (its re-announcing shows as gets: OpenDHT probes
        # each of a value's nodes before refreshing it there).
        self.msgs_per_peer_min = (sum(after.values()) - sum(before.values())) / elapsed * 60 / len(peers)


class Swarm:
    def __init__(self, n, dht, seed=1):
        self.n, self.dht, self.rng = n, dht, random.Random(seed)
        self.peers, self.alive = [], []

    def start(self):
        extra_dht = {"dht": True, "dht_port": 0} if self.dht else {"dht": False}
        for i in range(self.n):
            cfg = dict(PEER_CONFIG, **extra_dht)
            earlier = self.peers[:i]
            if earlier:
                cfg["peer_titular"] = self.rng.choice(earlier).url
            if len(earlier) > 1:
                cfg["peer_suplente"] = self.rng.choice(earlier).url
            files = {f"swarm-{i:04d}.txt": f"held by peer {i} only\n" * 20}
            self.peers.append(Peer(f"S{i:04d}", files=files, extra=cfg).start(timeout=60))
        self.alive = list(self.peers)
        if self.dht:
            # Every file published under its name (and, once hashed, its sha256).
            wait_until(lambda: all(self.published(p) >= 2 for p in self.peers),
                       timeout=60 + self.n * 0.5, step=0.5)

    @staticmethod
    def published(peer):
        try:
            return metric(peer, "p2p_dht_published_values")
        except OSError:
            return 0

    def file_of(self, peer):
        return f"swarm-{self.peers.index(peer):04d}.txt"

    def search_round(self, k, concurrency=8, quiet_s=5):
        """Every living peer searches k files held by other living peers."""
        upkeep = Upkeep(self.alive, quiet_s) if self.dht and quiet_s > 0 else None
        jobs = []
        for asker in self.alive:
            others = [p for p in self.alive if p is not asker]
            for holder in self.rng.sample(others, min(k, len(others))):
                jobs.append((asker, self.file_of(holder)))
        before = lookups(dht_messages_sent(self.alive)) if self.dht else 0
        t0 = time.monotonic()

        def one(job):
            asker, name = job
            t0 = time.monotonic()
            try:
                status, body = asker.get("/buscar?archivo=" + urllib.parse.quote(name), timeout=15)
                found = status == 200 and bool(body.get("present"))
            except OSError:
                found = False
            return found, (time.monotonic() - t0) * 1000

        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(one, jobs))
        # What each asker logged of the searches it missed (the first few): why, not just how many.
        misses = [{"asker": asker.name, "file": name, "ms": round(ms),
                   "log": [line for line in list(asker.lines) if name in line][-3:]}
                  for (asker, name), (found, ms) in zip(jobs, results) if not found][:5]
        after = lookups(dht_messages_sent(self.alive)) if self.dht else 0
        spent = after - before - (upkeep.lookups_per_s * (time.monotonic() - t0) if upkeep else 0)
        ms = sorted(t for _, t in results)
        return {
            "searches": len(results),
            "found_pct": 100.0 * sum(f for f, _ in results) / max(1, len(results)),
            "p50_ms": statistics.median(ms) if ms else 0,
            "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else 0,
            "dht_msgs_per_search": max(0.0, spent) / max(1, len(results)) if self.dht else None,
            "dht_upkeep_msgs_per_s": upkeep.lookups_per_s if upkeep else None,
            "dht_idle_msgs_per_peer_min": upkeep.msgs_per_peer_min if upkeep else None,
            "rss_mb_median": statistics.median(rss_kb(p.proc.pid) for p in self.alive) / 1024,
            "rss_mb_max": max(rss_kb(p.proc.pid) for p in self.alive) / 1024,
            "pss_mb_median": statistics.median(pss_kb(p.proc.pid) for p in self.alive) / 1024,
            "misses": misses,
        }

    def kill(self, fraction):
        victims = self.rng.sample(self.alive, int(len(self.alive) * fraction))
        for p in victims:
            p.proc.send_signal(signal.SIGKILL)
            p.proc.wait(timeout=10)
        self.alive = [p for p in self.alive if p not in victims]
        return len(victims)

    def close(self):
        cleanup_all(self.peers)


def run(n, k, kill_fraction, modes, seed=1, say=print, quiet_s=5):
    """{mode: {"before": stats, "after_kill": stats}} for each of modes ("dht", "walk").
    With quiet_s 0 the DHT's idle upkeep is not measured, nor subtracted."""
    raise_limits(n, say)
    out = {}
    for mode in modes:
        swarm = Swarm(n, dht=(mode == "dht"), seed=seed)
        try:
            say(f"swarm: starting {n} peers ({mode})")
            swarm.start()
            before = swarm.search_round(k, quiet_s=quiet_s)
            killed = swarm.kill(kill_fraction)
            say(f"swarm: killed {killed} peers ({mode})")
            after = swarm.search_round(k, quiet_s=quiet_s)
            out[mode] = {"before": before, "after_kill": after}
        finally:
            swarm.close()
    return out


def table(n, results):
    lines = [f"swarm of {n} peers on loopback",
             "  mode  phase        searches  found %   p50 ms   p99 ms  DHT msgs/search"
             "  RSS MB med/max  PSS MB  idle: lookups msgs/s, all msgs/peer/min"]
    for mode, phases in results.items():
        for phase, s in phases.items():
            def num(key):
                return "n/a" if s[key] is None else f"{s[key]:.1f}"
            lines.append(f"  {mode:5} {phase:11} {s['searches']:9} {s['found_pct']:8.1f} "
                         f"{s['p50_ms']:8.1f} {s['p99_ms']:8.1f} {num('dht_msgs_per_search'):>16}  "
                         f"{s['rss_mb_median']:6.1f}/{s['rss_mb_max']:<6.1f} "
                         f"{s['pss_mb_median']:7.1f}"
                         f"{num('dht_upkeep_msgs_per_s'):>20} {num('dht_idle_msgs_per_peer_min'):>14}")
    for mode, phases in results.items():
        for phase, s in phases.items():
            if mode == "dht":
                for m in s.get("misses", []):
                    lines.append(f"  missed ({mode} {phase}): {m['asker']} for {m['file']} in {m['ms']} ms")
                    lines.extend("    " + line for line in m["log"])
    lines.append(f"  (DHT msgs/search: find and get messages the peers sent during the round, less "
                 f"what they send idle, per search; 3*log2(N) = {3 * math.log2(n):.1f}. RSS counts "
                 "the libraries' code every peer maps; PSS shares it out among the peers)")
    return "\n".join(lines)
