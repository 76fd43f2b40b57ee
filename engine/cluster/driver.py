"""The driver's side: workers placed on the cluster's nodes, lines dealt to them in script order, each take
handed back the moment it is made.

Lines rather than whole chapters are the unit dealt: a chapter sent whole would keep the book's last chapter on
one machine while the others idle, and its takes would come back only at its end. Each worker holds
:data:`PER_WORKER` lines, so the next one is already there when it finishes one; a line is a few seconds of
work and the round trip milliseconds, so nothing is gained by bigger batches. Each voice is put in the cluster's
object store once and read from there by every line that uses it.

A worker that dies (its process killed, its machine gone) loses only the lines it held: they go back to the
front of the queue and on to the other workers. The driver owns the project (see :mod:`engine.project`): a
take exists once it is back here and the caller has added it, so a killed driver keeps every take it received.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from ..errors import ClusterError, TimbreError
from ..project.model import LineJob, Take
from .connect import connect
from .wire import WIRE_VERSION, job_to_wire, take_from_wire, voice_to_wire
from .worker import LineWorker

PER_WORKER = 2  # lines a worker holds: the one it makes and the next
SLOW_START_S = 60.0  # the official model loads in ~10 s; after this, say why the render may be waiting
WAIT_S = 1.0  # how long one wait for a result blocks, so Ctrl-C and the slow-start note are not held up


def _say(message: str) -> None:
    print(f"timbre: {message}", file=sys.stderr, flush=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def cluster_takes(address: str, load: dict, jobs: Iterable[LineJob], *, per_node: int = 1,
                  say: Callable[[str], None] = _say) -> Iterator[Take]:
    """The take of every job, made on the Ray cluster at ``address``, in the order they finish.

    load: the engine options every worker loads its model with (``model`` must name a folder or a cached repo
    id on every machine); per_node: workers per node, each given an equal share of the node's CPUs. Raises
    ClusterError when no worker can make takes, and a worker's engine errors as the local engine would."""
    ray = connect(address)
    try:
        yield from _Dealer(ray, load, per_node, say).takes(jobs)
    finally:
        ray.shutdown()


@dataclass(eq=False)
class _Worker:
    actor: object
    name: str  # where it runs, for messages: "10.0.0.7 (node 1a2b3c4d)"
    ready: bool = False
    alive: bool = True
    held: int = 0
    made: int = 0


class _Dealer:
    def __init__(self, ray, load: dict, per_node: int, say: Callable[[str], None]):
        self.ray, self.say = ray, say
        self.workers: list[_Worker] = []
        self.starting: dict = {}  # describe() ref -> worker
        self.failures: list[str] = []
        self.voices: dict = {}  # voice_id -> ref in the object store
        self._start(load, max(1, per_node))

    def _start(self, load: dict, per_node: int) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n for n in self.ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        if not nodes:
            raise ClusterError("The Ray cluster has no node with CPUs to render on; start one with `ray start`.")
        actor_class = self.ray.remote(LineWorker)
        for node in nodes:
            cpus = node["Resources"]["CPU"] / per_node
            # Ray hides the GPUs from an actor that asks for none (CUDA_VISIBLE_DEVICES=""): ask for a share
            gpus = node["Resources"].get("GPU", 0) / per_node if load.get("device") != "cpu" else 0
            for i in range(per_node):
                place = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                actor = actor_class.options(num_cpus=cpus, num_gpus=gpus, max_restarts=0,
                                            scheduling_strategy=place).remote(load, max(1, int(cpus)))
                name = f"{node['NodeManagerAddress']} (node {node['NodeID'][:8]}" + \
                       (f", worker {i + 1})" if per_node > 1 else ")")
                worker = _Worker(actor, name)
                self.workers.append(worker)
                self.starting[actor.describe.remote()] = worker
        self.say(f"starting {_count(len(self.workers), 'worker')} on {_count(len(nodes), 'node')} of the cluster")

    def takes(self, jobs: Iterable[LineJob]) -> Iterator[Take]:
        queue, held = deque(jobs), {}  # held: make() ref -> (worker, job)
        t0, noted = time.monotonic(), False
        try:
            while queue or held:
                self._deal(queue, held)
                waiting = [*held, *self.starting]
                if not waiting:
                    raise ClusterError(self._none_left())
                done, _ = self.ray.wait(waiting, num_returns=1, timeout=WAIT_S)
                if not done and not noted and not held and time.monotonic() - t0 > SLOW_START_S:
                    noted = True
                    self.say(f"no worker is ready after {SLOW_START_S:.0f} s: the model may still be loading, or the "
                             "cluster's CPUs are taken by another job (`ray status` shows them)")
                for ref in done:
                    if ref in self.starting:
                        self._started(self.starting.pop(ref), ref)
                        continue
                    worker, job = held.pop(ref)
                    worker.held -= 1
                    take = self._take(ref, worker, job, queue)
                    if take is not None:
                        yield take
            made = [f"{w.name}: {w.made}" for w in self.workers if w.made]
            self.say(f"{sum(w.made for w in self.workers)} takes made on the cluster ({', '.join(made) or 'none'})")
        finally:
            self._stop()

    def _deal(self, queue: deque, held: dict) -> None:
        for worker in self.workers:
            while worker.ready and worker.alive and worker.held < PER_WORKER and queue:
                job = queue.popleft()
                held[worker.actor.make.remote(job_to_wire(job), self._voice(job))] = (worker, job)
                worker.held += 1

    def _voice(self, job: LineJob):
        if job.voice_id not in self.voices:
            self.voices[job.voice_id] = self.ray.put(voice_to_wire(job.voice))
        return self.voices[job.voice_id]

    def _started(self, worker: _Worker, ref) -> None:
        try:
            about = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as e:
            return self._lost(worker, e)
        if about.get("wire") != WIRE_VERSION:
            return self._refuse(worker, f"it runs another Timbre (wire format {about.get('wire')}, this one "
                                        f"{WIRE_VERSION}); install the same Timbre on every machine")
        if about["error"]:
            return self._refuse(worker, f"its engine did not load: {about['error']}")
        worker.ready = True
        s = about["settings"]
        self.say(f"worker on {worker.name} ready: {s['model']} on {s['device']} ({s['precision']}, "
                 f"{about['threads']} CPU threads, pid {about['pid']})")

    def _take(self, ref, worker: _Worker, job: LineJob, queue: deque) -> Take | None:
        """The take ``ref`` holds; None when it was lost with its worker (the job is queued again)."""
        errors = self.ray.exceptions
        try:
            data = self.ray.get(ref)
        except errors.RayActorError as e:
            queue.appendleft(job)
            self._lost(worker, e)
            return None
        except errors.ObjectLostError:
            queue.appendleft(job)  # made, but gone with its node before it reached us; the worker's other
            return None            # calls say whether it is gone too
        except errors.RayTaskError as e:
            if isinstance(e.cause, TimbreError):  # the engine's own error, said as a local render says it
                raise e.cause from e
            raise  # a bug: Ray's error carries the worker's traceback
        worker.made += 1
        return take_from_wire(data, job)

    def _refuse(self, worker: _Worker, why: str) -> None:
        self.failures.append(f"{worker.name}: {why}")
        self.say(f"the worker on {worker.name} is not used: {why}")
        worker.alive = False
        self.ray.kill(worker.actor, no_restart=True)

    def _lost(self, worker: _Worker, error: Exception) -> None:
        if not worker.alive:
            return  # its other line failed the same way
        worker.alive = False
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        self.failures.append(f"{worker.name}: {first}")
        self.say(f"the worker on {worker.name} stopped ({first}); its lines go to the other workers")

    def _none_left(self) -> str:
        made = sum(w.made for w in self.workers)
        kept = f" The {made} takes made so far are kept: run the same command with --resume to go on." if made else ""
        return "No worker of the cluster can make takes (" + "; ".join(self.failures) + ")." + kept

    def _stop(self) -> None:
        for worker in self.workers:
            if worker.alive:
                try:
                    self.ray.kill(worker.actor, no_restart=True)
                except self.ray.exceptions.RayError:
                    pass  # already gone with its node; the job's end stops whatever is left
