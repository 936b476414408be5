"""scripts/install into a staging tree (--root, never the host): the binaries, the systemd
unit and its hardening, a config that a peer starts on, a second run that keeps an edited
config; systemd-analyze checks the unit where it is installed."""
import filecmp
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from configcheck import problems_starting, start_peer_on

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ["P2P_BUILD_DIR"]
UNIT = "etc/systemd/system/p2p-peer.service"
CONFIG = "etc/p2p-share/peer.json"


def install(root, *args):
    p = subprocess.run([os.path.join(ROOT, "scripts", "install"), "--root", root, "--no-build",
                        "--build-dir", BUILD, "--no-start", *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"scripts/install exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def read_unit(path):
    """{(section, key): [values]} (a key may repeat)."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def seconds(value):
    m = re.fullmatch(r"(\d+)(ms|s|min)?", value)
    assert m, f"not a time span: {value}"
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "min": 60, None: 1}[m.group(2)]


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="p2p-install-")
        cls.root = os.path.join(cls.tmp, "root")
        cls.output = install(cls.root)
        cls.unit = read_unit(os.path.join(cls.root, UNIT))
        with open(os.path.join(cls.root, CONFIG)) as f:
            cls.config = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.root, rel)

    def service(self, key):
        return self.unit.get(("Service", key), [])

    def test_binaries(self):
        for b in ("p2p-peer", "p2p"):
            installed = self.path("usr/local/bin/" + b)
            self.assertTrue(os.access(installed, os.X_OK), b)
            self.assertTrue(filecmp.cmp(installed, os.path.join(BUILD, b), shallow=False), b)

    def test_config_and_share(self):
        mode = stat.S_IMODE(os.stat(self.path(CONFIG)).st_mode)
        self.assertEqual(mode, 0o640, "the config may hold an upload token")
        self.assertEqual(self.config["directory"], "/var/lib/p2p-share/shared")
        self.assertTrue(os.path.isdir(self.path(self.config["directory"].lstrip("/"))))
        self.assertEqual((self.config["rest_port"], self.config["grpc_port"]), (8001, 50051))

    def test_config_starts_a_peer(self):
        peer = start_peer_on(self.config)
        try:
            status, health = peer.get("/health")
            self.assertEqual((status, health["status"]), (200, "ok"))
            self.assertEqual(health["name"], self.config["name"])
            self.assertEqual(problems_starting(peer), [])
        finally:
            self.assertEqual(peer.stop(), 0)
            peer.cleanup()

    def test_unit_runs_the_peer_on_the_config(self):
        self.assertEqual(self.service("ExecStart"),
                         ["/usr/local/bin/p2p-peer --config /etc/p2p-share/peer.json"])
        self.assertIn(self.service("Type"), (["simple"], ["notify"], ["exec"]))
        self.assertIn(self.service("Restart"), (["on-failure"], ["always"]))
        self.assertEqual(self.unit.get(("Install", "WantedBy")), ["multi-user.target"])
        grace_s = self.config.get("shutdown_grace_ms", 10000) / 1000
        self.assertGreater(seconds(self.service("TimeoutStopSec")[0]), grace_s,
                           "systemd waits longer than the peer's shutdown grace")

    def test_unit_hardening(self):
        self.assertEqual(self.service("User"), ["p2p"])
        self.assertEqual(self.service("ProtectSystem"), ["strict"])
        for key in ("ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges"):
            self.assertEqual(self.service(key), ["yes"], key)
        self.assertEqual(self.service("CapabilityBoundingSet"), [""])
        self.assertTrue(self.service("RestrictAddressFamilies"))
        self.assertTrue(self.service("SystemCallFilter"))
        # Writable: the share, nothing else.
        writable = [p.lstrip("-") for v in self.service("ReadWritePaths") for p in v.split()]
        self.assertEqual(writable, [self.config["directory"]])

    def test_next_steps_printed(self):
        for what in ("peer_titular", "peer_suplente", "advertise_host", CONFIG):
            self.assertIn(what, self.output)

    def test_reinstall_keeps_an_edited_config(self):
        root = os.path.join(self.tmp, "again")
        install(root)
        config = os.path.join(root, CONFIG)
        with open(config, "a") as f:
            f.write("\n")
        with open(config) as f:
            edited = f.read()
        out = install(root)
        self.assertIn("kept the existing /" + CONFIG, out)
        with open(config) as f:
            self.assertEqual(f.read(), edited)
        self.assertTrue(os.access(os.path.join(root, "usr/local/bin/p2p-peer"), os.X_OK))

    def test_prefix(self):
        root = os.path.join(self.tmp, "opt")
        install(root, "--prefix", "/opt/p2p")
        self.assertTrue(os.access(os.path.join(root, "opt/p2p/bin/p2p-peer"), os.X_OK))
        unit = read_unit(os.path.join(root, UNIT))
        self.assertEqual(unit[("Service", "ExecStart")],
                         ["/opt/p2p/bin/p2p-peer --config /etc/p2p-share/peer.json"])

    def test_systemd_analyze(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("unit not verified: systemd-analyze is not installed (package systemd)")
        # The unit as installed, but starting the staged binary, which verify checks exists.
        unit_dir = os.path.join(self.tmp, "verify")
        os.makedirs(unit_dir, exist_ok=True)
        unit = os.path.join(unit_dir, "p2p-peer.service")
        with open(self.path(UNIT)) as f:
            text = f.read().replace("ExecStart=/", "ExecStart=" + self.root + "/", 1)
        with open(unit, "w") as f:
            f.write(text)
        p = subprocess.run([analyze, "verify", unit], capture_output=True, text=True, timeout=60)
        print(p.stdout + p.stderr)
        self.assertEqual(p.returncode, 0)
        self.assertEqual([l for l in (p.stdout + p.stderr).splitlines() if "p2p-peer" in l], [])
        # Exposure 0 (locked down) .. 100 (unprotected); 20 is systemd's "OK" band.
        p = subprocess.run([analyze, "security", "--offline=true", "--threshold=20", unit],
                           capture_output=True, text=True, timeout=60)
        print(p.stdout.splitlines()[-1] if p.stdout else p.stderr)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
