"""Torch plumbing of the neural routers: the lazy import, determinism contexts, the masked loss, an MLP trunk.

PyTorch is an optional dependency (``pip install 'routerlab[embed]'``): it is imported by
:func:`require_torch` inside the routers' methods, never at module import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from routerlab._optional import require

__all__ = ["masked_bce_with_logits", "mlp_trunk", "require_torch", "seeded_torch", "single_thread"]


def require_torch(owner: str) -> Any:
    """Import and return :mod:`torch`, or raise :class:`PrerequisiteError` naming the extra to install."""
    return require(
        "torch",
        f"{owner} needs PyTorch, an optional dependency of routerlab that is not installed "
        "({exc}); install it with: pip install 'routerlab[embed]'",
    )


@contextlib.contextmanager
def single_thread(torch: Any) -> Iterator[None]:
    """Run torch on one intra-op thread (restored on exit).

    float32 reductions split work by thread count, so the same seed gave scores differing by ~1e-8
    between 1 and 2 threads; one thread makes fits bit-identical on any machine. On these small
    heads it costs nothing measurable, and it avoids OpenMP spin-waiting when cores are shared.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def seeded_torch(torch: Any, seed: int) -> Iterator[None]:
    """Seed torch's global RNG inside a fork, one thread, deterministic algorithms; all restored on exit."""
    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]), single_thread(torch):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous, warn_only=warn_only)


def masked_bce_with_logits(torch: Any, logits: Any, target: Any, weight: Any) -> Any:
    """Mean BCE-with-logits over the observed cells only.

    ``target`` must already hold 0 (not NaN) in missing cells and ``weight`` 0 there, 1 elsewhere;
    fractional targets in [0, 1] (e.g. F1 scores) are valid soft labels. A batch with no observed
    cell gives a loss of exactly 0.
    """
    per_cell = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (per_cell * weight).sum() / weight.sum().clamp_min(1.0)


def mlp_trunk(torch: Any, n_in: int, hidden: int, n_layers: int, dropout: float) -> tuple[Any, int]:
    """Build a ReLU MLP trunk (``n_layers`` hidden layers, dropout after each); return it and its output width."""
    nn = torch.nn
    layers: list[Any] = []
    width = n_in
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    return nn.Sequential(*layers), width
