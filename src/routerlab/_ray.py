"""Ray, the optional engine beyond one machine: imported lazily, joined or started once, typed at the edge.

Ray ships without complete type hints, so the rest of routerlab reaches it only through the few
functions here (``Any`` for its handles). ``ray`` is the ``distributed`` extra: when it is missing,
:func:`require_ray` raises a :class:`~routerlab.errors.PrerequisiteError` naming the install.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from routerlab._optional import require
from routerlab.errors import RouterlabError

__all__ = ["INSTALL", "node_id", "ray_session", "require_ray"]

log = logging.getLogger(__name__)

INSTALL = "pip install 'routerlab[distributed]'"


def require_ray(what: str = "--backend ray") -> Any:
    """The ``ray`` module; a PrerequisiteError naming the extra when it is not installed."""
    return require("ray", f"{what} needs Ray, which is not installed ({{exc}}); install it with `{INSTALL}`.")


@contextmanager
def ray_session(address: str | None, num_cpus: int) -> Iterator[Any]:
    """Yield the ``ray`` module, connected to a cluster for the duration of the block.

    A Ray already initialised in this process (a caller's ``ray.init``) is used as it is and left
    running. Otherwise ``address`` (``"HOST:PORT"`` of a head started with ``ray start --head``, or
    ``"auto"``) is joined, or, without one, a new local Ray is started in this process with
    ``num_cpus`` CPUs and no dashboard (even when a cluster runs on this machine); either way it is
    shut down when the block ends.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    if address is None:  # "local": a new Ray, never one found running on this machine or in RAY_ADDRESS
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    else:
        _check_reachable(address)
        ray.init(address=address, logging_level=logging.WARNING)
    try:
        resources = ray.cluster_resources()
        log.info("ray: %s CPUs on %d nodes", resources.get("CPU", 0), len(ray.nodes()))
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at a ``HOST:PORT`` address (ray.init would wait for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # "auto" or a ray:// client address: Ray resolves it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RouterlabError(
            f"No Ray cluster answers at address {address!r} ({exc}). Start its head there with "
            f"`ray start --head --port={port}`, or pass the address `ray start --head` printed."
        ) from None


def node_id() -> str:
    """The id of the Ray node this code runs on (inside a task)."""
    ray = require_ray()
    return str(ray.get_runtime_context().get_node_id())
