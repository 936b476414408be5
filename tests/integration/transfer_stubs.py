"""transfer_pb2 / transfer_pb2_grpc generated from proto/transfer.proto at test time with
Debian's python3-grpc-tools, as a user of the Python original would. stubs() does the same
for other .proto files (gRPC's own health and reflection services)."""
import atexit
import importlib
import os
import shutil
import sys
import tempfile

from grpc_tools import protoc

PROTO_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "proto")


def stubs(proto_dir, proto_file):
    """(NAME_pb2, NAME_pb2_grpc) for proto_dir/proto_file, which must import nothing."""
    out = tempfile.mkdtemp(prefix="p2p-stubs-")
    atexit.register(shutil.rmtree, out, True)
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}",
                      os.path.join(proto_dir, proto_file)])
    if rc != 0:
        raise RuntimeError(f"protoc failed on {proto_file}")
    sys.path.insert(0, out)
    name = os.path.splitext(proto_file)[0]
    return importlib.import_module(name + "_pb2"), importlib.import_module(name + "_pb2_grpc")


pb2, pb2_grpc = stubs(PROTO_DIR, "transfer.proto")
