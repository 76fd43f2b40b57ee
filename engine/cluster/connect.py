"""Reaching the Ray cluster: Ray itself (an optional extra), the address, and one clear error for each failure.

``ADDRESS`` is what ``ray start --head`` printed on the head machine (``HOST:6379``), or ``auto`` for the
cluster this machine is a node of. The driver (``timbre render``) must run on a node of the cluster: Ray's
driver talks to the raylet of its own machine. The head's port is tried with a plain TCP connection first, so
a wrong address is said at once, and Ray gets one attempt at the handshake (``RAY_gcs_server_port_wait_time_s``,
Ray's own setting, unless the user set it): its default of 20 attempts of up to ~40 s each, against a port that
accepts but does not answer as a Ray head, waits for many minutes.
"""
from __future__ import annotations

import logging
import os
import socket
from urllib.parse import urlsplit

from ..errors import ClusterError

INSTALL_HINT = ('--cluster needs Ray, an optional part of Timbre. Install it on this machine and on every machine '
                'of the cluster: pip install "timbre[cluster]" (from a Timbre checkout: pip install -e ".[cluster]").')
DEFAULT_PORT = 6379  # the head's port when ``ray start --head`` is not given one
REACH_TIMEOUT_S = 5.0  # a head on the local network answers a TCP connect in milliseconds
GCS_ATTEMPTS = "1"  # Ray's connection attempts; a head that is up answers the first one


def require_ray():
    """The ``ray`` module, or ClusterError saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ClusterError(INSTALL_HINT) from e
    return ray


def head_of(address: str) -> tuple[str, int] | None:
    """``"HOST:PORT"`` (also ``[v6]:PORT``; PORT defaults to 6379) -> (host, port); None for ``auto``."""
    address = address.strip()
    if address == "auto":
        return None
    bad = ClusterError(f"--cluster {address!r}: write the head's HOST:PORT (e.g. 192.168.1.10:6379) or auto.")
    if "://" in address:
        raise bad  # ray:// is Ray Client, a separate extra and another way in: not what this talks to
    try:
        parts = urlsplit("//" + address)
        host, port = parts.hostname, parts.port or DEFAULT_PORT
    except ValueError as e:
        raise bad from e
    if not host:
        raise bad
    return host, port


def check_reachable(address: str) -> None:
    """ClusterError naming the address when nothing listens there (refused, unknown host, no route, timeout)."""
    head = head_of(address)
    if head is None:
        return
    try:
        socket.create_connection(head, timeout=REACH_TIMEOUT_S).close()
    except OSError as e:
        why = e.strerror or str(e) or type(e).__name__
        raise ClusterError(f"No Ray cluster answers at {address} ({why}). Start one on the head machine with "
                           f"`ray start --head --port {head[1]}`, or give --cluster the address it printed.") from e


def connect(address: str):
    """Connect this process to the cluster at ``address`` as its driver; the ``ray`` module. Never starts a
    cluster of its own. Call ``ray.shutdown()`` when done."""
    ray = require_ray()
    check_reachable(address)
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", GCS_ATTEMPTS)
    try:
        ray.init(address=address.strip(), namespace="timbre", logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError, ray.exceptions.RayError) as e:
        raise ClusterError(_why_not(address, e)) from e
    return ray


def _why_not(address: str, error: Exception) -> str:
    where = "on this machine" if address.strip() == "auto" else f"at {address}"
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if "AuthenticationError" in f"{error} {error.__cause__}":
        return (f"The Ray cluster {where} refused this machine's token: it uses token authentication, so set "
                "RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN, or the file ~/.ray/auth_token) here too.")
    return (f"Cannot join the Ray cluster {where}: {first}. Run timbre on a machine of the cluster (the head, or one "
            "joined with `ray start --address HEAD:PORT`), with the same Ray and Python versions as the cluster; "
            "`ray status` there tells whether the cluster is up.")
