"""docker-compose.yml: valid for docker-compose (which needs no engine for this), and the
three peers of configs/ in containers: ports 8001-8003 and 50051-50053, a volume per
share, each peer asking the same neighbours as in configs/ by their service names."""
import json
import os
import re
import subprocess
import unittest

import yaml

from configcheck import problems_starting, start_peer_on

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
CONFIG_IN_CONTAINER = "/etc/p2p-share/peer.json"


def compose(*args):
    return subprocess.run(["docker-compose", "-f", COMPOSE, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def seconds(duration):
    """'30s', '1m30s', '500ms' -> seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    if not parts or "".join(n + u for n, u in parts) != str(duration):
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)


def ports(service):
    """{(published, target)} from the short ("8001:8001") or the long form."""
    out = set()
    for p in service.get("ports", []):
        if isinstance(p, dict):
            out.add((int(p["published"]), int(p["target"])))
        else:
            host, _, target = str(p).rpartition(":")
            out.add((int(host.rsplit(":", 1)[-1]), int(target.split("/")[0])))
    return out


def mounts(service):
    """[(source, target, read_only)] from the short or the long form."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out.append((v["source"], v["target"], bool(v.get("read_only"))))
        else:
            parts = v.split(":")
            out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def rest_port(url):
    m = re.fullmatch(r"http://[^:/]+:(\d+)/?", url)
    assert m, f"not a peer URL: {url}"
    return int(m.group(1))


class Compose(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = compose("config")
        assert p.returncode == 0, f"docker-compose config failed:\n{p.stderr}"
        cls.cfg = yaml.safe_load(p.stdout)
        cls.services = cls.cfg.get("services", {})

    def test_config_quiet_is_valid(self):
        p = compose("config", "-q")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_three_peers(self):
        self.assertEqual(sorted(self.services), ["peer1", "peer2", "peer3"])

    def peer_config(self, name):
        """The config a service mounts, and the mount itself."""
        found = [m for m in mounts(self.services[name]) if m[1] == CONFIG_IN_CONTAINER]
        self.assertEqual(len(found), 1, f"{name}: one config mounted at {CONFIG_IN_CONTAINER}")
        source, _, read_only = found[0]
        self.assertTrue(read_only, f"{name}: the config is mounted read-only")
        self.assertEqual(os.path.realpath(source),
                         os.path.join(ROOT, "docker", "configs", name + ".json"))
        with open(source) as f:
            return json.load(f)

    def test_ports_as_in_the_original(self):
        for n in (1, 2, 3):
            name = f"peer{n}"
            cfg = self.peer_config(name)
            self.assertEqual((cfg["rest_port"], cfg["grpc_port"]), (8000 + n, 50050 + n), name)
            published = {(8000 + n, 8000 + n), (50050 + n, 50050 + n)}
            self.assertEqual(ports(self.services[name]), published, name)

    def test_a_named_volume_per_share(self):
        declared = set(self.cfg.get("volumes") or {})
        seen = set()
        for name, svc in self.services.items():
            share = self.peer_config(name)["directory"]
            at_share = [m for m in mounts(svc) if m[1] == share]
            self.assertEqual(len(at_share), 1, f"{name}: one volume on its share {share}")
            source, _, read_only = at_share[0]
            self.assertIn(source, declared, f"{name}: the share is a named volume")
            self.assertFalse(read_only, f"{name}: the share takes uploads")
            seen.add(source)
        self.assertEqual(len(seen), 3, "each peer has its own share")

    def test_peers_name_each_other_as_in_configs(self):
        by_rest_port = {self.peer_config(s)["rest_port"]: s for s in self.services}
        for n in (1, 2, 3):
            name = f"peer{n}"
            cfg = self.peer_config(name)
            with open(os.path.join(ROOT, "configs", f"peer{n}.json")) as f:
                original = json.load(f)
            self.assertEqual(cfg["ip"], "0.0.0.0", f"{name}: reachable from the other containers")
            self.assertEqual(cfg["advertise_host"], name, f"{name}: gRPC address by service name")
            for role in ("peer_titular", "peer_suplente"):
                port = rest_port(original[role])
                self.assertEqual(cfg[role], f"http://{by_rest_port[port]}:{port}", f"{name} {role}")

    def test_configs_start_a_peer(self):
        for name in self.services:
            cfg = self.peer_config(name)
            peer = start_peer_on(cfg)
            try:
                status, health = peer.get("/health")
                self.assertEqual((status, health["name"]), (200, cfg["name"]), name)
                self.assertEqual(problems_starting(peer), [], name)
            finally:
                peer.cleanup()

    def test_health_and_stop(self):
        for name, svc in self.services.items():
            cfg = self.peer_config(name)
            env = svc.get("environment") or {}
            self.assertEqual(env.get("P2P_HEALTH_URL"),
                             f"http://127.0.0.1:{cfg['rest_port']}/health", name)
            grace_s = cfg.get("shutdown_grace_ms", 10000) / 1000
            self.assertGreater(seconds(svc.get("stop_grace_period", "10s")), grace_s,
                               f"{name}: docker stop waits longer than the shutdown grace")

    def test_image_from_docker_dockerfile(self):
        for name, svc in self.services.items():
            build = svc.get("build") or {}
            self.assertEqual(os.path.realpath(build.get("context", "")), ROOT, name)
            self.assertEqual(build.get("dockerfile"), "docker/Dockerfile", name)

    def test_io_uring_allowed(self):
        # Docker 25+ refuses io_uring in its default seccomp profile: every transfer would fail.
        for name, svc in self.services.items():
            opts = [o.replace(":", "=", 1) for o in svc.get("security_opt", [])]
            self.assertTrue(any(o.startswith("seccomp=") for o in opts),
                            f"{name}: a seccomp profile that allows io_uring")


if __name__ == "__main__":
    unittest.main()
