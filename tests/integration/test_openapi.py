"""The REST API's OpenAPI document (docs/openapi.json, served at GET /openapi.json) against
a real peer: it is a valid OpenAPI 3.0 document, every operation it describes is answered
as described (status, content type, body schema), and the peer answers nothing it leaves
out. (tests/unit/test_rest_api.cpp compares it with the route table itself.)"""
import http.client
import json
import os
import sys
import unittest
import urllib.parse

import jsonschema

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import Peer  # noqa: E402

# Debian's openapi-specification: the OpenAPI Initiative's JSON Schema of OpenAPI 3.0.
OAS30_SCHEMA = "/usr/share/openapi-specification/schemas/v3.0/schema.json"
REPO_DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi.json")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Paths near the documented ones that must not be answered.
UNDOCUMENTED = ["/listado/", "/LISTADO", "/listado.json", "/buscar/documento1.txt",
                "/health/", "/healthz", "/status", "/peers/1", "/openapi", "/openapi.yaml",
                "/docs", "/api", "/metrics/", "/index.html", "/favicon.ico", "//listado"]


def request(port, method, target, body=None):
    """(status, headers, body bytes) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method.upper(), target, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def media_matches(documented, header):
    """A Content-Type header matches a documented media type: same type, and every
    parameter the document names (e.g. version=0.0.4) present with its value."""
    def split(v):
        parts = [p.strip() for p in v.split(";")]
        return parts[0].lower(), {p.replace(" ", "").lower() for p in parts[1:] if p}
    d_type, d_params = split(documented)
    h_type, h_params = split(header)
    return (d_type == "*/*" or d_type == h_type) and d_params <= h_params


class OpenApiDocument(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.peer = Peer("Described", files={"documento1.txt": "hola"}).start()
        status, headers, body = request(cls.peer.rest_port, "get", "/openapi.json")
        cls.served = (status, headers, body)
        cls.doc = json.loads(body)
        cls.resolver = jsonschema.RefResolver(base_uri="", referrer=cls.doc)

    @classmethod
    def tearDownClass(cls):
        cls.peer.cleanup()

    def operations(self):
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                if method in METHODS:
                    yield path, method, op

    def deref(self, obj):
        for _ in range(10):
            if "$ref" not in obj:
                return obj
            obj = self.resolver.resolve(obj["$ref"])[1]
        self.fail(f"$ref chain too long at {obj}")

    def check_answer(self, what, op, status, headers, body):
        """The answer is one the operation documents: its status listed explicitly (not
        only under default), a documented content type, and a body of the documented schema."""
        self.assertIn(str(status), op["responses"], f"{what}: status {status} not documented")
        response = self.deref(op["responses"][str(status)])
        content = response.get("content", {})
        ctype = headers.get("content-type", "")
        matching = [m for m in content if media_matches(m, ctype)]
        self.assertTrue(matching, f"{what}: content type {ctype!r} not among {list(content)}")
        schema = content[matching[0]].get("schema")
        if schema and matching[0].startswith("application/json"):
            jsonschema.Draft4Validator(schema, resolver=self.resolver).validate(json.loads(body))

    def example_request(self, path, op):
        """A request that exercises the operation: the query parameters that have an
        example (every required one must), the request body from its example."""
        everywhere = self.doc["paths"][path].get("parameters", []) + op.get("parameters", [])
        for p in everywhere:
            if p.get("required"):
                self.assertIn("example", p, f"{path}: required parameter {p['name']}")
        for p in everywhere:
            if p["in"] == "path":
                path = path.replace("{" + p["name"] + "}", urllib.parse.quote(p["example"], safe=""))
        query = {p["name"]: p["example"] for p in everywhere if p["in"] == "query" and "example" in p}
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        body = None
        if "requestBody" in op:
            content = op["requestBody"]["content"]
            if "application/json" in content:
                body = json.dumps(content["application/json"]["example"])
            else:
                body = next(iter(content.values()))["example"]
        return target, body

    def test_served_document_is_the_one_in_the_repository(self):
        status, headers, body = self.served
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        with open(REPO_DOC, "rb") as f:
            self.assertEqual(body, f.read())

    def test_is_a_valid_openapi_3_0_document(self):
        with open(OAS30_SCHEMA) as f:
            oas = json.load(f)
        jsonschema.Draft4Validator(oas).validate(self.doc)
        self.assertRegex(self.doc["openapi"], r"^3\.0\.\d+$")
        # The OAS schema leaves references unchecked: each must resolve, and each schema
        # it names must be a valid JSON Schema.
        refs = []

        def walk(node):
            if isinstance(node, dict):
                if isinstance(node.get("$ref"), str):
                    refs.append(node["$ref"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(self.doc)
        self.assertTrue(refs)
        for ref in refs:
            self.assertTrue(ref.startswith("#/components/"), ref)
            self.resolver.resolve(ref)
        for name, schema in self.doc["components"]["schemas"].items():
            jsonschema.Draft4Validator.check_schema(schema)
        ids = [op["operationId"] for _, _, op in self.operations()]
        self.assertEqual(len(ids), len(set(ids)))

    def test_every_documented_operation_is_answered_as_documented(self):
        port = self.peer.rest_port
        # POST /peers last: the peer it announces would be asked by later searches.
        ops = sorted(self.operations(), key=lambda o: (o[1] == "post", o[0]))
        self.assertGreaterEqual(len(ops), 7)
        for path, method, op in ops:
            with self.subTest(op=f"{method.upper()} {path}"):
                target, body = self.example_request(path, op)
                status, headers, answer = request(port, method, target, body)
                self.assertNotIn(status, (404, 405), f"{method.upper()} {target}: {answer!r}")
                self.check_answer(f"{method.upper()} {target}", op, status, headers, answer)
                if method == "get":
                    # HEAD wherever GET: the same status and headers, no body.
                    h_status, h_headers, h_body = request(port, "head", target)
                    self.assertEqual(h_status, status)
                    self.assertEqual(h_headers.get("content-type"), headers.get("content-type"))
                    self.assertEqual(h_body, b"")

    def test_documented_errors_are_answered_as_documented(self):
        port = self.peer.rest_port
        cases = [("get", "/buscar", "/buscar", None),
                 ("get", "/buscar", "/buscar?archivo=..%2Fetc%2Fpasswd", None),
                 ("get", "/buscar", "/buscar?archivo=a.txt&ttl=65", None),
                 ("get", "/buscar", "/buscar?archivo=a.txt&holders=0", None),
                 ("get", "/buscar", "/buscar?archivo=a.txt&holders=17", None),
                 ("get", "/buscar", "/buscar?sha256=abc", None),
                 ("get", "/buscar", "/buscar?sha256=" + "0" * 64, None),  # a miss: 200
                 ("get", "/buscar", "/buscar?archivo=nada.txt", None),  # a miss: 200
                 ("post", "/peers", "/peers", "{}"),
                 ("post", "/peers", "/peers", "[1]"),
                 ("post", "/peers", "/peers", '{"url":"ftp://x"}')]
        for method, path, target, body in cases:
            with self.subTest(request=f"{method.upper()} {target} {body or ''}"):
                status, headers, answer = request(port, method, target, body)
                self.check_answer(target, self.doc["paths"][path][method], status, headers, answer)
                expected = 200 if "nada" in target or "0" * 64 in target else 400
                self.assertEqual(status, expected, answer)

    def test_methods_not_documented_on_a_path_are_405(self):
        port = self.peer.rest_port
        error = {"$ref": "#/components/schemas/Error"}
        for path, item in self.doc["paths"].items():
            documented = {m for m in item if m in METHODS}
            if "get" in documented:
                documented.add("head")
            for method in set(METHODS) - documented:
                with self.subTest(request=f"{method.upper()} {path}"):
                    status, _, answer = request(port, method, path)
                    self.assertEqual(status, 405, answer)
                    jsonschema.Draft4Validator(error, resolver=self.resolver).validate(json.loads(answer))

    def test_undocumented_paths_are_404(self):
        port = self.peer.rest_port
        error = {"$ref": "#/components/schemas/Error"}
        for path in UNDOCUMENTED:
            self.assertNotIn(path, self.doc["paths"])
            for method in ("get", "post"):
                with self.subTest(request=f"{method.upper()} {path}"):
                    status, headers, answer = request(port, method, path)
                    self.assertEqual(status, 404, answer)
                    self.assertEqual(headers["content-type"], "application/json")
                    jsonschema.Draft4Validator(error, resolver=self.resolver).validate(json.loads(answer))


if __name__ == "__main__":
    unittest.main()
