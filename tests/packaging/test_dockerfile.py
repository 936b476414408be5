"""docker/Dockerfile, read statically (no Docker engine here): a Debian 12 build stage that
runs the scripts CI runs, a slim runtime stage with the libraries the binaries link and
nothing to build with, a non-root user, a health check on /health."""
import os
import re
import shlex
import subprocess
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ["P2P_BUILD_DIR"]
# In debian:12-slim already (apt needs them).
IN_SLIM = {"libc6", "libgcc-s1", "libstdc++6"}


def instructions(path):
    """[(INSTRUCTION, arguments)], continuation lines joined, comments dropped."""
    out, pending = [], ""
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = pending + line
            pending = ""
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages(path):
    """[(FROM arguments, [(INSTRUCTION, arguments)])]"""
    out = []
    for word, rest in instructions(path):
        if word == "FROM":
            out.append((rest, []))
        else:
            out[-1][1].append((word, rest))
    return out


def apt_packages(run):
    """Packages named by 'apt-get install' in a RUN line."""
    out = []
    for cmd in re.split(r"&&|;", run):
        words = shlex.split(cmd)
        if words[:2] == ["apt-get", "install"]:
            out += [w for w in words[2:] if not w.startswith("-")]
    return out


def needed_packages(*binaries):
    """The Debian packages holding the shared libraries the binaries link directly."""
    libs = set()
    for b in binaries:
        dynamic = subprocess.run(["readelf", "-d", b], capture_output=True, text=True,
                                 check=True).stdout
        loaded = subprocess.run(["ldd", b], capture_output=True, text=True, check=True).stdout
        paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", loaded, re.M))
        paths.update({os.path.basename(p): p for p in re.findall(r"^\s*(/\S+) \(", loaded, re.M)})
        for so in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic):
            # build-sanitize's runtimes; the image is built like build/, without them.
            if not re.match(r"lib(a|ub|t|l)san\.so", so):
                libs.add(os.path.realpath(paths[so]))
    # dpkg knows a file under /lib or under /usr/lib (Debian 12 is merging them): ask both.
    def variants(path):
        return {path, re.sub(r"^/usr/", "/", path), re.sub(r"^/(?!usr/)", "/usr/", path)}
    asked = sorted(set().union(*(variants(p) for p in libs)))
    found = subprocess.run(["dpkg", "-S", *asked], capture_output=True, text=True).stdout
    owner = {}
    for line in found.splitlines():
        pkg, path = line.split(": ", 1)
        owner[path] = pkg.split(":")[0]  # libc6:amd64 -> libc6
    packages = set()
    for lib in libs:
        owners = {owner[v] for v in variants(lib) if v in owner}
        assert owners, f"no Debian package holds {lib}"
        packages |= owners
    return packages


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = stages(os.path.join(ROOT, "docker", "Dockerfile"))
        cls.build_from, cls.build = cls.stages[0]
        cls.runtime_from, cls.runtime = cls.stages[-1]

    def runs(self, stage):
        return [rest for word, rest in stage if word == "RUN"]

    def test_multi_stage_on_debian_12(self):
        self.assertGreaterEqual(len(self.stages), 2)
        self.assertRegex(self.build_from, r"^debian:(12|bookworm) AS \w+$")
        self.assertRegex(self.runtime_from, r"^debian:(12|bookworm)-slim$")

    def test_build_stage_runs_the_scripts_ci_runs(self):
        runs = " && ".join(self.runs(self.build))
        self.assertIn("scripts/setup", runs)
        with open(os.path.join(ROOT, "scripts", "test")) as f:
            self.assertIn("ninja -C", f.read())
        self.assertRegex(runs, r"ninja -C build\b")
        self.assertEqual(apt_packages(runs), [], "the build's packages come from scripts/setup")

    def test_runtime_has_the_binaries_and_nothing_to_build_with(self):
        build_name = self.build_from.split()[-1]
        copies = [rest for word, rest in self.runtime if word == "COPY"]
        from_build = " ".join(c for c in copies if c.startswith(f"--from={build_name} "))
        for b in ("build/p2p-peer", "build/p2p"):
            self.assertIn(b, from_build)
        for p in apt_packages(" && ".join(self.runs(self.runtime))):
            self.assertFalse(p.endswith("-dev") or p in ("g++", "meson", "ninja-build"), p)

    def test_runtime_libraries_cover_the_binaries(self):
        packages = set(apt_packages(" && ".join(self.runs(self.runtime))))
        for p in sorted(packages):
            status = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", p],
                                    capture_output=True, text=True).stdout
            self.assertEqual(status, "installed", f"{p}: not a Debian 12 package installed here")
        needed = needed_packages(os.path.join(BUILD, "p2p-peer"), os.path.join(BUILD, "p2p"))
        self.assertEqual(needed - packages - IN_SLIM, set(),
                         "the binaries link libraries the image does not install")

    def test_runs_as_non_root(self):
        users = [rest for word, rest in self.runtime if word == "USER"]
        self.assertTrue(users, "a USER in the runtime stage")
        self.assertNotIn(users[-1].split(":")[0], ("root", "0"))

    def test_health_check_on_health(self):
        env = {}
        for word, rest in self.runtime:
            if word == "ENV":
                for k, _, v in (kv.partition("=") for kv in shlex.split(rest)):
                    env[k] = v
        checks = [rest for word, rest in self.runtime if word == "HEALTHCHECK"]
        self.assertEqual(len(checks), 1)
        check = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), checks[0])
        self.assertRegex(check, r"CMD .*curl .*http://127\.0\.0\.1:\d+/health")

    def test_starts_the_peer_on_its_config(self):
        cmd = [rest for word, rest in self.runtime if word in ("CMD", "ENTRYPOINT")][-1]
        self.assertRegex(cmd, r'"p2p-peer", "--config", "/etc/p2p-share/peer.json"')
        copies = [rest for word, rest in self.runtime if word == "COPY"]
        self.assertTrue(any(c.endswith(" /etc/p2p-share/peer.json") for c in copies))

    def test_context_leaves_out_local_builds(self):
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            ignored = f.read().split()
        for p in ("build", "build-*", ".git"):
            self.assertIn(p, ignored)


if __name__ == "__main__":
    unittest.main()
