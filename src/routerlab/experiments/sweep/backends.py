"""Where the sweep's runs execute: this process, local worker processes (joblib loky), or a Ray cluster.

A backend turns jobs ``(RunSpec, router class, SplitData)`` into records, yielded as they finish,
in any order; the scheduler writes each one to ``runs.jsonl`` itself, so whichever backend ran it,
a record is written once, whole, by the driver. Every backend calls the same
:func:`~routerlab.experiments.sweep.run.execute_run`, so a run gives the same record (timings and
timestamps aside) wherever it ran, and resume and the summary do not depend on the backend.

* :class:`LocalBackend`: ``n_jobs == 1`` runs in this process; more use joblib's loky processes.
* :class:`RayBackend`: one Ray task per run on the cluster at ``address`` (or a Ray started here
  with ``n_jobs`` CPUs). Each split and its feature matrix is put in Ray's object store once and
  shared by every run on it; a task whose node dies is run again (``max_retries``); the features a
  run needs but the cache lacks are encoded on the cluster first
  (:func:`routerlab.data.features.distributed.encode_on_ray`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any, Protocol

from routerlab.data.schema import RoutingData
from routerlab.errors import RouterlabError
from routerlab.experiments.sweep.config import SweepConfig
from routerlab.experiments.sweep.data import SplitData
from routerlab.experiments.sweep.run import RunSpec, execute_run
from routerlab.routers.base import Router

__all__ = ["MAX_RETRIES", "Backend", "Job", "LocalBackend", "RayBackend", "make_backend"]

log = logging.getLogger(__name__)

#: one run of the sweep: what to fit, which router family, on which data
Job = tuple[RunSpec, type[Router], SplitData]
#: times Ray runs a task again when the node (or worker process) running it dies
MAX_RETRIES = 3


class Backend(Protocol):
    """Executes runs and yields their records as they finish."""

    def results(self, jobs: Sequence[Job], lams: tuple[float, ...]) -> Iterator[dict[str, Any]]:
        """Yield one record per job, in completion order."""
        ...

    def prepare_features(self, data: RoutingData, encoder: str) -> None:
        """Fill the embedding cache for ``data``'s texts under ``encoder`` (the local path encodes on demand)."""
        ...

    def close(self) -> None:
        """Release what the backend started (worker pools, a Ray session)."""
        ...


class LocalBackend:
    """Run on this machine: in this process when ``n_jobs`` is 1, else joblib's loky worker processes."""

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs

    def results(self, jobs: Sequence[Job], lams: tuple[float, ...]) -> Iterator[dict[str, Any]]:
        """Yield the records of ``jobs``: in order in this process, as they finish under loky."""
        n_jobs = min(self.n_jobs, len(jobs))
        if n_jobs <= 1:
            return (execute_run(spec, cls, split, lams) for spec, cls, split in jobs)
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
        results: Iterator[dict[str, Any]] = parallel(
            delayed(execute_run)(spec, cls, split, lams) for spec, cls, split in jobs
        )
        return results

    def prepare_features(self, data: RoutingData, encoder: str) -> None:
        """Nothing to do: the scheduler encodes (cached) when it builds the splits."""

    def close(self) -> None:
        """Nothing to release: loky's pool is reused by joblib and reaped at exit."""


def _run_on_node(spec: RunSpec, cls: type[Router], split: SplitData, lams: tuple[float, ...]) -> tuple[Any, str]:
    """A Ray task: the run's record and the id of the node that computed it."""
    from routerlab._ray import node_id

    return execute_run(spec, cls, split, lams), node_id()


class RayBackend:
    """A Ray cluster: one task per run, each split shipped to the object store once.

    ``address`` is a head's ``HOST:PORT`` (or ``"auto"``); ``None`` starts a local Ray in this
    process with ``n_jobs`` CPUs. Ray is imported and joined on first use and left by :meth:`close`.
    ``nodes`` counts the runs each node computed (what went where, for logs and tests).
    """

    def __init__(self, address: str | None, n_jobs: int, *, max_retries: int = MAX_RETRIES) -> None:
        self.address = address
        self.n_jobs = n_jobs
        self.max_retries = max_retries
        self.nodes: Counter[str] = Counter()
        self._stack = ExitStack()
        self._ray: Any = None
        self._shipped: dict[int, tuple[SplitData, Any]] = {}  # id(split) -> (split, its ObjectRef)

    def _session(self) -> Any:
        if self._ray is None:
            from routerlab._ray import ray_session

            self._ray = self._stack.enter_context(ray_session(self.address, self.n_jobs))
        return self._ray

    def _ref(self, split: SplitData) -> Any:
        """The object-store handle of ``split``, put there on first use (the split is kept alive with it)."""
        if id(split) not in self._shipped:
            self._shipped[id(split)] = (split, self._session().put(split))
        return self._shipped[id(split)][1]

    def results(self, jobs: Sequence[Job], lams: tuple[float, ...]) -> Iterator[dict[str, Any]]:
        """Submit every job, then yield each record as its task finishes; lost runs are raised at the end."""
        ray = self._session()
        task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_run_on_node)
        specs = {task.remote(spec, cls, self._ref(split), lams): spec for spec, cls, split in jobs}
        refs, lost = list(specs), []
        try:
            while refs:
                ready, refs = ray.wait(refs, num_returns=1)
                try:
                    record, node = ray.get(ready[0])
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
                    # execute_run never raises: only a process or node lost more often than max_retries gets here
                    lost.append(f"{specs[ready[0]].key} ({type(exc).__name__})")
                    continue
                self.nodes[node] += 1
                yield record
        finally:
            for ref in refs:  # the caller stopped early (fail_fast, Ctrl-C): do not leave work queued
                ray.cancel(ref)
        if lost:
            raise RouterlabError(
                f"{len(lost)} runs were lost on the Ray cluster after {self.max_retries} retries: "
                f"{', '.join(lost[:5])}{' ...' if len(lost) > 5 else ''}. Their nodes died each time; check the "
                "nodes' memory (ray status) and run the same command again: completed runs are kept."
            )

    def prepare_features(self, data: RoutingData, encoder: str) -> None:
        """Encode the texts the cache lacks on the cluster (see :mod:`routerlab.data.features.distributed`)."""
        from routerlab.data.features.distributed import encode_on_ray

        self._session()
        encode_on_ray(data, encoder)

    def close(self) -> None:
        """Drop the shipped splits and leave (or stop) the Ray session."""
        if self.nodes:
            log.info("ray: %d runs on %d nodes", sum(self.nodes.values()), len(self.nodes))
        self._shipped.clear()
        self._stack.close()
        self._ray = None


def make_backend(config: SweepConfig) -> Backend:
    """The backend ``config`` asks for (``backend`` and ``address``; ``n_jobs`` processes or local Ray CPUs)."""
    if config.backend == "ray":
        from routerlab._ray import require_ray

        require_ray()  # fail before any work, with the install line
        return RayBackend(config.address, config.effective_n_jobs)
    return LocalBackend(config.effective_n_jobs)
