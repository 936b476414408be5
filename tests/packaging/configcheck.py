"""Starts a real peer on a config written for another host (the installed one, the
containers'): its fields as they are, but loopback, ports 0 and a temporary shared folder,
so a config that the peer would refuse or half-ignore fails the test."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from peerlib import Peer  # noqa: E402

LOCAL = ("ip", "rest_port", "grpc_port", "directory")


def start_peer_on(cfg):
    """The started Peer (cleanup() it); raises if it does not start."""
    extra = {k: v for k, v in cfg.items() if k not in LOCAL}
    return Peer(cfg.get("name", "peer"), extra=extra).start()


def problems_starting(peer):
    """Log lines in which the peer complains about its config."""
    return [l for l in peer.lines if "unknown field" in l or " ERROR " in l or " CRITICAL " in l]
