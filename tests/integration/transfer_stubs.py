"""transfer_pb2 / transfer_pb2_grpc generated from proto/transfer.proto at test time with
Debian's python3-grpc-tools, as a user of the Python original would."""
import atexit
import importlib
import os
import shutil
import sys
import tempfile

from grpc_tools import protoc

PROTO_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "proto")


def load():
    out = tempfile.mkdtemp(prefix="p2p-stubs-")
    atexit.register(shutil.rmtree, out, True)
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--grpc_python_out={out}",
                      os.path.join(PROTO_DIR, "transfer.proto")])
    if rc != 0:
        raise RuntimeError("protoc failed on transfer.proto")
    sys.path.insert(0, out)
    return importlib.import_module("transfer_pb2"), importlib.import_module("transfer_pb2_grpc")


pb2, pb2_grpc = load()
