"""Display objects: compute a figure's numbers once, draw them with ``.plot(ax=...)`` as often as needed.

After scikit-learn's ``*Display`` classes: each is a frozen dataclass built by a ``from_...``
classmethod from plain arrays (outcomes ``Y``, costs, a router's scores or choices), holding
every number the figure shows, and drawing nothing until :meth:`plot` is called. ``plot(ax=None)``
draws on ``ax`` (or on a new pyplot figure) and returns the axes. Matplotlib is imported only by
``plot``; without it a :class:`~routerlab.errors.PrerequisiteError` names ``pip install
'routerlab[plots]'``.

* :class:`DeferralCurveDisplay` — quality against mean cost over the whole pool: each router's
  operating points along a λ sweep, their non-decreasing hull and its AUC, the single models and
  the oracle frontier (`rethinking-router-evaluation.txt` ("Who Routes the Router") §4.4, App. F).
* :class:`CallRateDisplay` — Φ against the call rate to the large model of a fixed (small, large)
  pair, with LPM/MPM/HCR (`routerxbench.txt` (arXiv:2602.11877) §3; `rethinking-router-evaluation.txt` App. I.1).
* :class:`UtilityDisplay` — realised U(λ) over λ (`routing-plateau.txt` (arXiv:2606.07587) §3, §4.2).
* :class:`ReliabilityDisplay` — reliability diagram of the scores as probabilities, with ECE.
* :class:`SignificanceDisplay` — the matrix of paired-bootstrap differences; differences whose CI
  excludes 0 are marked (`rethinking-router-evaluation.txt` App. F).
* :class:`RoutingShareDisplay` — share of queries routed to each model, flagging collapse
  (`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8).
* :class:`HardEasyDisplay` — accuracy on hard and easy solvable queries (`routing-plateau.txt` §5.1).
* :class:`XBenchAurocDisplay`, :class:`XBenchScalingDisplay` — RouterXBench's AUROC with its CI per
  router and setting (Tab. 1), and against the number of training queries (§6), from ``xbench.json``.

Routers choose with the shared policy on their *own* cost estimates (the mean training cost;
the oracle knows the true cost) — exactly what :meth:`routerlab.routers.Router.route` does — and
are scored on the true outcomes and costs.

One display a module (:mod:`.deferral`, :mod:`.call_rate`, :mod:`.utility`, :mod:`.reliability`,
:mod:`.significance`, :mod:`.routing_share`, :mod:`.hard_easy`, :mod:`.xbench`); the pieces they share (outcomes read
as 0/1, :func:`router_choices`, labels and colours) are in :mod:`._common`.
"""

from __future__ import annotations

from routerlab.report.displays._common import CORRECT_AT, binary_outcomes, router_choices
from routerlab.report.displays.call_rate import CallRateDisplay
from routerlab.report.displays.deferral import DEFERRAL_LAMBDAS, DeferralCurveDisplay
from routerlab.report.displays.hard_easy import HardEasyDisplay
from routerlab.report.displays.reliability import ReliabilityDisplay
from routerlab.report.displays.routing_share import RoutingShareDisplay
from routerlab.report.displays.significance import SignificanceDisplay
from routerlab.report.displays.utility import UtilityDisplay
from routerlab.report.displays.xbench import XBenchAurocDisplay, XBenchScalingDisplay

__all__ = [
    "CORRECT_AT",
    "DEFERRAL_LAMBDAS",
    "CallRateDisplay",
    "DeferralCurveDisplay",
    "HardEasyDisplay",
    "ReliabilityDisplay",
    "RoutingShareDisplay",
    "SignificanceDisplay",
    "UtilityDisplay",
    "XBenchAurocDisplay",
    "XBenchScalingDisplay",
    "binary_outcomes",
    "router_choices",
]
