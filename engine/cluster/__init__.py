"""Rendering a narration on several machines: the lines of ``timbre render --cluster ADDRESS`` made on a Ray
cluster (https://docs.ray.io), one engine per worker process, loaded once.

    for take in cluster_takes("192.168.1.10:6379", load, project.jobs("pending")):
        project.add_take(take)       # the driver owns the project; workers only get lines and return takes
        project.autosave()

Modules: connect (Ray, the address, its errors), driver (placing workers, dealing lines, takes back, lost
workers), worker (the Ray actor holding one engine), wire (the plain values that travel).

Ray is the optional extra ``timbre[cluster]``; nothing here imports it until a cluster is asked for.
"""
from __future__ import annotations

from .connect import INSTALL_HINT, check_reachable, require_ray
from .driver import PER_WORKER, cluster_takes

__all__ = ["INSTALL_HINT", "PER_WORKER", "check_reachable", "cluster_takes", "require_ray"]
