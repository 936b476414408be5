"""REST API of one real peer on loopback (docs/openapi.json)."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import PEER_BIN, Peer, listed, raw_exchange, split_responses, wait_until  # noqa: E402


class RestApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.peer = Peer("Alpha", files={"Documento1.txt": "hola mundo", "b b.txt": "x" * 100}).start()

    @classmethod
    def tearDownClass(cls):
        cls.peer.cleanup()

    def test_listado(self):
        status, body = self.peer.get("/listado")
        self.assertEqual(status, 200)
        self.assertIsInstance(body, list)
        by_name = {f["name"]: f for f in body}
        self.assertEqual(by_name["Documento1.txt"]["size"], 10)
        self.assertEqual(by_name["Documento1.txt"]["uri"],
                         "file://" + os.path.join(os.path.realpath(self.peer.dir), "Documento1.txt"))
        self.assertTrue(by_name["b b.txt"]["uri"].endswith("/b%20b.txt"))

    def test_buscar_hit_is_case_insensitive_and_trimmed(self):
        for q in ("Documento1.txt", "DOCUMENTO1.TXT", "%20documento1.txt%20"):
            status, body = self.peer.get("/buscar?archivo=" + q)
            self.assertEqual(status, 200, q)
            self.assertTrue(body["present"], q)
            self.assertEqual(body["grpc_address"], f"127.0.0.1:{self.peer.grpc_port or 0}")

    def test_buscar_miss_is_200_false(self):
        self.assertEqual(self.peer.get("/buscar?archivo=nope.txt"), (200, {"present": False}))
        # exact names only: no substring match
        self.assertEqual(self.peer.get("/buscar?archivo=documento1")[1], {"present": False})

    def test_buscar_bad_requests(self):
        for q in ("", "?archivo=", "?archivo=..%2Fx", "?archivo=a%2Fb", "?archivo=%00",
                  "?archivo=..", "?archivo=%zz", "?archivo=" + "a" * 300):
            status, body = self.peer.get("/buscar" + q)
            self.assertEqual(status, 400, q)
            self.assertIn("error", body)

    def test_health(self):
        status, body = self.peer.get("/health")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")

    def test_unknown_route_and_wrong_method(self):
        status, body = self.peer.get("/nothing")
        self.assertEqual(status, 404)
        self.assertIn("error", body)
        raw = raw_exchange(self.peer.rest_port, b"DELETE /listado HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        [(status, headers, body)] = split_responses(raw)
        self.assertEqual(status, 405)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertIn("error", json.loads(body))

    def test_pipelined_requests_on_one_connection(self):
        req = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /buscar?archivo=documento1.txt HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /listado HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        responses = split_responses(raw_exchange(self.peer.rest_port, req))
        self.assertEqual([r[0] for r in responses], [200, 200, 200])
        self.assertEqual(json.loads(responses[0][2])["status"], "ok")
        self.assertTrue(json.loads(responses[1][2])["present"])
        self.assertIsInstance(json.loads(responses[2][2]), list)

    def test_keep_alive_reuses_connection(self):
        s = socket.create_connection(("127.0.0.1", self.peer.rest_port), timeout=5)
        try:
            for _ in range(50):
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                buf = b""
                while b"}" not in buf:
                    buf += s.recv(4096)
                self.assertTrue(buf.startswith(b"HTTP/1.1 200"))
        finally:
            s.close()

    def test_huge_header_is_431(self):
        req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20 * 1024 + b"\r\n\r\n"
        [(status, _, body)] = split_responses(raw_exchange(self.peer.rest_port, req))
        self.assertEqual(status, 431)
        self.assertIn("error", json.loads(body))

    def test_huge_target_is_414(self):
        req = b"GET /buscar?archivo=" + b"a" * 17 * 1024 + b" HTTP/1.1\r\n\r\n"
        [(status, _, _)] = split_responses(raw_exchange(self.peer.rest_port, req))
        self.assertEqual(status, 414)

    def test_body_on_get_is_400(self):
        req = b"GET /health HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        [(status, _, _)] = split_responses(raw_exchange(self.peer.rest_port, req))
        self.assertEqual(status, 400)

    def test_garbage_is_400(self):
        [(status, _, _)] = split_responses(raw_exchange(self.peer.rest_port, b"\x16\x03\x01garbage\r\n\r\n"))
        self.assertEqual(status, 400)

    def test_http09_request_line_is_400_and_closed(self):
        # No HTTP version: an HTTP/0.9 request. It is refused and the connection closed, as
        # nginx does, instead of being answered in HTTP/1.1.
        s = socket.create_connection(("127.0.0.1", self.peer.rest_port), timeout=5)
        try:
            s.sendall(b"GET /listado\r\n\r\n")
            raw = b""
            while True:
                b = s.recv(65536)  # a server that kept it open fails here with a timeout
                if not b:
                    break
                raw += b
        finally:
            s.close()
        [(status, _, body)] = split_responses(raw)
        self.assertEqual(status, 400)
        self.assertIn("HTTP version", json.loads(body)["error"])

    def test_new_file_is_listed_within_one_second(self):
        start = time.monotonic()
        self.peer.write("fresh.txt", "new")
        self.assertTrue(wait_until(lambda: "fresh.txt" in listed(self.peer), timeout=1.0))
        os.remove(os.path.join(self.peer.dir, "fresh.txt"))
        self.assertTrue(wait_until(lambda: "fresh.txt" not in listed(self.peer), timeout=1.0))
        self.assertLess(time.monotonic() - start, 2.0)

    def test_many_connections(self):
        socks = [socket.create_connection(("127.0.0.1", self.peer.rest_port), timeout=5) for _ in range(300)]
        try:
            for s in socks:
                s.sendall(b"GET /health HTTP/1.1\r\n\r\n")
            for s in socks:
                self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200"))
        finally:
            for s in socks:
                s.close()


class WithoutInotify(unittest.TestCase):
    def test_a_peer_without_an_inotify_instance_warns_once_and_rescans(self):
        # As the 129th peer of one user on a host (fs.inotify.max_user_instances is 128).
        deny = [os.environ["P2P_DENY_SYSCALL"], "inotify_init1", "EMFILE"]
        with Peer("Polling", files={"before.txt": "1"}, wrapper=deny) as peer:
            self.assertEqual(sorted(f["name"] for f in peer.get("/listado")[1]), ["before.txt"])
            peer.write("later.txt", "22")
            self.assertTrue(wait_until(lambda: "later.txt" in listed(peer), timeout=30))
            os.remove(os.path.join(peer.dir, "before.txt"))
            self.assertTrue(wait_until(lambda: "before.txt" not in listed(peer), timeout=30))
            warnings = [l for l in peer.lines if "Cannot watch" in l]
            self.assertEqual(len(warnings), 1, warnings)
            self.assertIn("inotify_init1: Too many open files", warnings[0])
            self.assertIn("rescanning it every 2 s", warnings[0])


class LargeListing(unittest.TestCase):
    """A listing past SharedBody::kSendfileMin goes out by sendfile: pipelined with other
    responses it must still arrive whole, in order, with the length it announced."""

    def test_pipelined_large_listings(self):
        files = {f"file{i:04d}.dat": str(i) for i in range(1500)}
        with Peer("Large", files=files) as peer:
            # Once every file is hashed the listing stops changing: the two listings of one
            # exchange are then the same bytes (a sha256 landing between them made them differ).
            self.assertTrue(wait_until(
                lambda: sum("sha256" in f for f in peer.get("/listado")[1]) == 1500, timeout=30))
            raw = raw_exchange(peer.rest_port,
                               b"GET /listado HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\n\r\n"
                               b"GET /listado HTTP/1.1\r\nConnection: close\r\n\r\n", timeout=10)
            responses = split_responses(raw)
            self.assertEqual([r[0] for r in responses], [200, 200, 200])
            first, health, last = (json.loads(r[2]) for r in responses)
            self.assertGreater(len(responses[0][2]), 64 * 1024)
            self.assertEqual(sorted(f["name"] for f in first), sorted(files))
            self.assertEqual(first, last)
            self.assertEqual(health["status"], "ok")


class UriStyle(unittest.TestCase):
    def test_grpc_uris_hide_absolute_paths(self):
        with Peer("Discreet", files={"a b.txt": "x"}, extra={"uri_style": "grpc"}) as peer:
            [entry] = peer.get("/listado")[1]
            self.assertEqual(entry["uri"], f"grpc://127.0.0.1:{peer.grpc_port}/a%20b.txt")
            self.assertNotIn(peer.dir, json.dumps(entry))

    def test_unknown_style_is_a_config_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "p.json")
            with open(path, "w") as f:
                json.dump({"ip": "127.0.0.1", "rest_port": 0, "grpc_port": 0, "directory": tmp,
                           "uri_style": "http"}, f)
            p = subprocess.run([PEER_BIN, "--config", path], capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2)
            self.assertIn("uri_style", p.stderr)


class IdleTimeout(unittest.TestCase):
    def test_partial_request_gets_408(self):
        with Peer("Slow", extra={"http_idle_timeout_ms": 300}) as peer:
            s = socket.create_connection(("127.0.0.1", peer.rest_port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\n")
            data = s.recv(4096)
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)


class Startup(unittest.TestCase):
    def run_peer(self, cfg, wrapper=()):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.json")
            with open(path, "w") as f:
                f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
            p = subprocess.run([*wrapper, PEER_BIN, "--config", path], capture_output=True, text=True,
                               timeout=10)
            return p.returncode, p.stderr

    def test_io_uring_blocked_exits_1_saying_so(self):
        # As in a container whose seccomp policy blocks io_uring: no socket is opened, the
        # log says why, instead of a healthy-looking peer whose every transfer fails.
        with tempfile.TemporaryDirectory() as share:
            code, err = self.run_peer({"ip": "127.0.0.1", "rest_port": 0, "grpc_port": 0, "directory": share},
                                      wrapper=[os.environ["P2P_DENY_SYSCALL"], "io_uring_setup", "EPERM"])
        self.assertEqual(code, 1, err)
        self.assertIn("io_uring is not available (Operation not permitted)", err)
        self.assertNotIn("listening", err)

    def test_missing_field_exits_2_naming_it(self):
        code, err = self.run_peer({"ip": "127.0.0.1", "rest_port": 0, "directory": "/tmp"})
        self.assertEqual(code, 2)
        self.assertIn("grpc_port", err)
        self.assertIn("bad.json", err)

    def test_port_as_string_exits_2(self):
        code, err = self.run_peer({"ip": "127.0.0.1", "rest_port": "8001", "grpc_port": 0, "directory": "/tmp"})
        self.assertEqual(code, 2)
        self.assertIn("rest_port", err)

    def test_missing_directory_exits_2(self):
        code, err = self.run_peer({"ip": "127.0.0.1", "rest_port": 0, "grpc_port": 0, "directory": "/nonexistent-p2p"})
        self.assertEqual(code, 2)
        self.assertIn("directory", err)

    def test_not_json_exits_2(self):
        code, err = self.run_peer("{not json")
        self.assertEqual(code, 2)

    def test_startup_log_lines(self):
        with Peer("Logger", files={"a.txt": "a"}) as peer:
            text = "\n".join(peer.lines)
            self.assertRegex(text, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO \[Logger\] Config file: ")
            self.assertIn("REST server listening on 127.0.0.1:", text)
            self.assertIn(": 1 files", text)

    def test_sigterm_exits_0(self):
        peer = Peer("Term").start()
        try:
            self.assertEqual(peer.stop(), 0)
        finally:
            peer.cleanup()


if __name__ == "__main__":
    unittest.main()
