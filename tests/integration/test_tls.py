"""TLS: HTTPS REST and TLS gRPC on a real peer with certificates of a CA this test makes
with openssl; clients we did not write (urllib's ssl, grpcio) and ours (p2p, peer-to-peer
search over https); plaintext clients against a TLS peer fail cleanly and fast."""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import CLI_BIN, PEER_BIN, Peer, cleanup_all, raw_exchange, split_responses, wait_log, wait_until  # noqa: E402
from transfer_stubs import pb2, pb2_grpc  # noqa: E402


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-days", "2", "-subj", f"/CN={name}", cwd=d)
    return os.path.join(d, f"{name}.pem")


def make_cert(d, ca, name, san):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key")


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="p2p-pki-")
        cls.ca = make_ca(cls.pki, "ca")
        cls.other_ca = make_ca(cls.pki, "otherca")
        cls.cert, cls.key = make_cert(cls.pki, "ca", "peer", "IP:127.0.0.1,DNS:localhost")
        # Signed by the trusted CA, but for another host.
        cls.elsewhere_cert, cls.elsewhere_key = make_cert(cls.pki, "ca", "elsewhere", "DNS:elsewhere.example")
        cls.peers = []
        cls.peer = cls.start("Tls", files={"hola.txt": "hola " * 50000})

    @classmethod
    def start(cls, name, files=None, **extra):
        cfg = {"tls_cert": cls.cert, "tls_key": cls.key, "tls_ca": cls.ca, "timeout_ms": 1000}
        cfg.update(extra)
        p = Peer(name, files=files, extra=cfg).start()
        cls.peers.append(p)
        return p

    @classmethod
    def tearDownClass(cls):
        try:
            cleanup_all(cls.peers)
        finally:
            shutil.rmtree(cls.pki, ignore_errors=True)

    def https(self, peer, path, cafile=None):
        ctx = ssl.create_default_context(cafile=cafile or self.ca)
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{peer.rest_port}{path}", context=ctx, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_rest_over_https(self):
        self.assertEqual(self.https(self.peer, "/health")[0], 200)
        status, files = self.https(self.peer, "/listado")
        self.assertEqual(status, 200)
        self.assertIn("hola.txt", [f["name"] for f in files])
        status, body = self.https(self.peer, "/buscar?archivo=HOLA.txt")
        self.assertEqual((status, body["present"]), (200, True))
        self.assertEqual(self.https(self.peer, "/buscar?archivo=")[0], 400)

    def test_files_over_https_go_through_the_tls_stream(self):
        data = os.urandom(3 * 1024 * 1024 + 17)
        self.peer.write("grande.bin", data)
        url = f"https://127.0.0.1:{self.peer.rest_port}/archivos/grande.bin"
        got = subprocess.run(["curl", "-sS", "--cacert", self.ca, url], capture_output=True, timeout=60)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertEqual(got.stdout, data)
        part = subprocess.run(["curl", "-sS", "--cacert", self.ca, "-r", "70000-1100000", url],
                              capture_output=True, timeout=60)
        self.assertEqual(part.stdout, data[70000:1100001])
        up = subprocess.run(["curl", "-sS", "--cacert", self.ca, "-o", "/dev/null", "-w", "%{http_code}",
                             "-T", "-", f"https://127.0.0.1:{self.peer.rest_port}/archivos/subido-tls.bin"],
                            input=data, capture_output=True, timeout=60)
        self.assertEqual(up.stdout, b"201", up.stderr)
        with open(os.path.join(self.peer.dir, "subido-tls.bin"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_plain_http_to_the_https_port_is_told_so(self):
        t0 = time.monotonic()
        raw = raw_exchange(self.peer.rest_port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = split_responses(raw)[0]
        self.assertEqual(status, 400)
        self.assertIn("https", json.loads(body)["error"])
        self.assertLess(time.monotonic() - t0, 2)
        # Bytes that are neither HTTP nor TLS: the connection is just closed (a reset, as
        # they are left unread).
        try:
            self.assertEqual(raw_exchange(self.peer.rest_port, b"\x00\x01\x02garbage"), b"")
        except ConnectionResetError:
            pass
        self.assertEqual(self.https(self.peer, "/health")[0], 200)

    def test_untrusted_certificate_is_refused_by_the_client(self):
        with self.assertRaises(urllib.error.URLError) as cm:
            self.https(self.peer, "/health", cafile=self.other_ca)
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)
        # A client that connects and never handshakes does not hold the peer up.
        with socket.create_connection(("127.0.0.1", self.peer.rest_port)):
            self.assertEqual(self.https(self.peer, "/health")[0], 200)

    def test_grpc_tls_download_with_grpcio(self):
        with open(self.ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        with grpc.secure_channel(f"127.0.0.1:{self.peer.grpc_port}", creds) as ch:
            stub = pb2_grpc.FileServiceStub(ch)
            data = b"".join(r.chunk for r in stub.Download(pb2.DownloadRequest(filename="hola.txt"), timeout=10))
        self.assertEqual(data, b"hola " * 50000)

    def test_plaintext_grpc_client_fails_cleanly(self):
        t0 = time.monotonic()
        with grpc.insecure_channel(f"127.0.0.1:{self.peer.grpc_port}") as ch:
            stub = pb2_grpc.FileServiceStub(ch)
            with self.assertRaises(grpc.RpcError) as cm:
                b"".join(r.chunk for r in stub.Download(pb2.DownloadRequest(filename="hola.txt"), timeout=5))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertLess(time.monotonic() - t0, 5)

    def test_cli_get_and_put_over_tls(self):
        with tempfile.TemporaryDirectory() as out:
            url = f"https://127.0.0.1:{self.peer.rest_port}"
            r = subprocess.run([CLI_BIN, "get", "hola.txt", "--peer", url, "--ca", self.ca, "-o", out],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "hola.txt")) as f:
                self.assertEqual(f.read(), "hola " * 50000)
            up = os.path.join(out, "subida.txt")
            with open(up, "w") as f:
                f.write("subida")
            grpc_addr = f"127.0.0.1:{self.peer.grpc_port}"
            r = subprocess.run([CLI_BIN, "put", up, "--to", grpc_addr], capture_output=True, text=True,
                               env=dict(os.environ, P2P_CA=self.ca), timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(self.peer.dir, "subida.txt")) as f:
                self.assertEqual(f.read(), "subida")
            # Plaintext against TLS, and TLS trusting the wrong CA: unreachable, said clearly.
            for extra in ([], ["--ca", self.other_ca]):
                t0 = time.monotonic()
                r = subprocess.run([CLI_BIN, "get", "hola.txt", "--from", grpc_addr, "-o", out, "-f", *extra],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 6, r.stderr)
                self.assertIn("cannot connect", r.stderr)
                self.assertLess(time.monotonic() - t0, 6)
            r = subprocess.run([CLI_BIN, "list", "--peer", url], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            r = subprocess.run([CLI_BIN, "list", "--peer", url, "--ca", os.path.join(out, "nope.pem")],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2)
            self.assertIn("nope.pem", r.stderr)

    def test_search_between_tls_peers(self):
        holder = self.start("Holder", files={"lejano.txt": "lejos"})
        holder_url = f"https://127.0.0.1:{holder.rest_port}"
        asker = self.start("Asker", peer_titular=holder_url)
        status, body = self.https(asker, "/buscar?archivo=lejano.txt")
        self.assertEqual(status, 200)
        self.assertTrue(body["present"])
        self.assertEqual(body["grpc_address"], f"127.0.0.1:{holder.grpc_port}")
        self.assertEqual(body["via"], holder_url)
        # The holder learns the asker's https URL from its announcement, sent as it starts.
        asker_url = f"https://127.0.0.1:{asker.rest_port}"
        self.assertTrue(wait_until(lambda: asker_url in [p["url"] for p in self.https(holder, "/peers")[1]["peers"]],
                                   timeout=10))
        # A peer that trusts another CA does not take the holder's answer.
        doubter = self.start("Doubter", peer_titular=holder_url, tls_ca=self.other_ca)
        status, body = self.https(doubter, "/buscar?archivo=lejano.txt")
        self.assertEqual((status, body), (200, {"present": False}))
        titular = [p for p in self.https(doubter, "/peers")[1]["peers"] if p["role"] == "titular"][0]
        self.assertGreater(titular["failures"], 0)
        # (Logged before the answer; read from its stderr by another thread.)
        self.assertTrue(wait_log(doubter, "TLS handshake"), doubter.lines[-5:])

    def test_certificate_for_another_host_is_refused(self):
        impostor = self.start("Impostor", files={"lejano.txt": "falso"},
                              tls_cert=self.elsewhere_cert, tls_key=self.elsewhere_key)
        with self.assertRaises(urllib.error.URLError) as cm:
            self.https(impostor, "/health")
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)
        self.assertIn("127.0.0.1", str(cm.exception.reason))
        # Our own client refuses it too: a search through it finds nothing.
        asker = self.start("Wary", peer_titular=f"https://127.0.0.1:{impostor.rest_port}")
        self.assertEqual(self.https(asker, "/buscar?archivo=lejano.txt"), (200, {"present": False}))
        self.assertTrue(wait_log(asker, "TLS handshake"), asker.lines[-5:])
        r = subprocess.run([CLI_BIN, "get", "lejano.txt", "--from", f"127.0.0.1:{impostor.grpc_port}",
                            "--ca", self.ca, "-o", self.pki], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.pki, "lejano.txt")))

    def test_plaintext_announcement_is_refused(self):
        body = json.dumps({"url": "http://127.0.0.1:9", "grpc_address": "127.0.0.1:10", "name": "Plain",
                           "id": "plain-1"}).encode()
        ctx = ssl.create_default_context(cafile=self.ca)
        req = urllib.request.Request(f"https://127.0.0.1:{self.peer.rest_port}/peers", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, context=ctx, timeout=5)
        self.assertEqual(cm.exception.code, 400)
        self.assertIn("https://", json.loads(cm.exception.read())["error"])
        urls = [p["url"] for p in self.https(self.peer, "/peers")[1]["peers"]]
        self.assertNotIn("http://127.0.0.1:9", urls)

    def test_plain_http_neighbour_is_warned_about(self):
        p = self.start("Mixed", peer_titular="http://127.0.0.1:9")
        self.assertTrue(wait_log(p, re.compile(r"WARN.*plain http")), p.lines)

    def test_tls_config_errors(self):
        for extra, code, words in (({"tls_key": None}, 2, "tls_key"),
                                   ({"tls_key": self.cert}, 1, "TLS key"),
                                   ({"tls_cert": os.path.join(self.pki, "otherca.pem")}, 1, "mismatch")):
            cfg = {"tls_cert": self.cert, "tls_key": self.key}
            cfg.update(extra)
            cfg = {k: v for k, v in cfg.items() if v is not None}
            p = Peer("Bad", extra=cfg)
            try:
                r = subprocess.run([PEER_BIN, "--config", p.config], capture_output=True, text=True, timeout=10)
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertIn(words, r.stderr)
            finally:
                p.cleanup()


if __name__ == "__main__":
    unittest.main()
