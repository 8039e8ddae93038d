"""Saving a fitted router to a folder and loading it back, without pickle.

Format (``schema_version`` 1)
-----------------------------
A saved router is a folder with two files:

* ``router.json`` — the manifest, UTF-8 JSON: ``format`` (``"routerlab.router"``), ``schema_version``,
  the registry name of the router (``router``) and its ``params`` (:meth:`Router.get_params`), the
  ``routerlab_version`` that wrote it, the ``encoder`` spec of the features it was fitted on (a
  string such as ``"hashing:v1:..."``, or null when unknown), its model pool (``models``), cost unit
  and cost scale (``cost_scale``: ``lo``/``hi``), a ``train_fingerprint`` of the training data
  (:func:`fingerprint`), the SHA-256 of ``state.npz``, and ``attributes``: a description of every
  fitted attribute (instance attributes whose names end in ``_``).
* ``state.npz`` — every array of the fitted state, written by :func:`numpy.savez`; each is named in
  the manifest with its dtype and shape.

One generic mechanism describes every router's state, so a new router family needs no code here:

* ``None``, ``bool``, ``int``, ``str``, finite ``float`` and lists are JSON values; every JSON object
  in ``attributes`` / ``params`` is a tagged node (``{"type": ...}``): ``tuple``, ``dict`` (string
  keys), ``float`` (NaN, ±inf), ``scalar`` (a numpy scalar with its dtype), ``ndarray`` (an entry of
  ``state.npz``; never an object array), ``CostScale``;
* ``sklearn``: a scikit-learn estimator (the per-model trees of ``rf`` / ``gbdt``), written with
  `skops <https://skops.readthedocs.io>`_ (``skops.io``, a format without pickle) as a byte array in
  ``state.npz``; optional extra ``pip install 'routerlab[persist]'``;
* ``torch_module``: a PyTorch module (``net_`` of the torch routers) stored as its ``state_dict``
  tensors (numpy arrays in ``state.npz``). Loading rebuilds the network with the router's own
  construction code (the ``_module_skeleton(attr)`` hook, e.g.
  :meth:`routerlab.routers.neural.TorchRouter._module_skeleton`) and loads the weights into it.
* ``router``: a fitted router held by another (the members of the ensembles in
  :mod:`routerlab.routers.ensemble`): its registry name, its ``params`` and its ``attributes``,
  described by these same rules (torch modules included), its arrays in the one ``state.npz``.
  Loading builds it through the registered class's ``__init__``, as the top-level router.

Safety promise
--------------
Loading a router folder never executes code from it: the manifest is parsed as strict JSON, the
arrays are read with ``numpy.load(allow_pickle=False)`` (an object array is refused), the router
class is looked up by name in :data:`routerlab.routers.ROUTERS` (registered classes only) and built
through its ``__init__``; scikit-learn estimators are read by ``skops.io`` only when every type they
need is on skops' default trust list or on :data:`SKOPS_TRUSTED_TYPES`, and torch weights are plain
arrays. What a tampered folder can change is the router's numbers, not what runs. A manifest from a
newer ``schema_version``, a missing file, a checksum mismatch, an unknown node type and an array whose
dtype or shape differs from its description are :mod:`routerlab.errors` errors that say what to do.

Loading with ``encoder=`` or ``models=`` checks them against the saved ones: features from another
encoder or another model pool would give silently wrong numbers, so a mismatch is an error naming both.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab._files import atomic_write_bytes
from routerlab._jsonl import parse_json
from routerlab._optional import require
from routerlab._version import __version__
from routerlab.errors import DataNotFoundError, NotFittedError, SchemaError

if TYPE_CHECKING:
    from routerlab.data.schema import RoutingData
    from routerlab.routers.base import Router
    from routerlab.routers.pipeline import FeatureRouter

log = logging.getLogger(__name__)

__all__ = [
    "MANIFEST",
    "SCHEMA_VERSION",
    "SKOPS_TRUSTED_TYPES",
    "STATE",
    "fingerprint",
    "load_router",
    "read_manifest",
    "save_router",
]

#: the version of the folder layout written by :func:`save_router`; readers refuse newer ones
SCHEMA_VERSION = 1
#: the manifest's file name inside a saved router folder
MANIFEST = "router.json"
#: the arrays' file name inside a saved router folder
STATE = "state.npz"
_FORMAT = "routerlab.router"
#: nesting depth of a manifest value beyond which it is refused (routers store a few levels)
_MAX_DEPTH = 32
#: types that skops does not trust by default but that the routers' scikit-learn estimators hold:
#: the trees' node arrays. Each is a plain data holder restored from arrays by scikit-learn itself.
SKOPS_TRUSTED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
    }
)
_FIX_RESAVE = "save the router again with routerlab.routers.save_router (or refit it)"


# ---------------------------------------------------------------------------------------------- fingerprint
def fingerprint(data: RoutingData) -> str:
    """``"sha256:<hex>"`` over a routing dataset's query ids, model names, ``Y`` and ``cost``.

    Two datasets with the same ids, pool, outcomes and costs (NaN as missing) share the fingerprint;
    any change in one of them changes it. Strings are length-prefixed UTF-8, matrices little-endian
    float64 with their shape, so no two different inputs serialise alike.
    """
    h = hashlib.sha256(b"routerlab-train-fingerprint-v1\0")

    def strings(values: Sequence[str]) -> None:
        h.update(len(values).to_bytes(8, "little"))
        for value in values:
            raw = str(value).encode("utf-8")
            h.update(len(raw).to_bytes(8, "little"))
            h.update(raw)

    def matrix(values: np.ndarray) -> None:
        arr = np.asarray(values, dtype="<f8")
        h.update(np.asarray(arr.shape, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(np.where(np.isnan(arr), np.nan, arr), dtype="<f8").tobytes())

    strings([str(q) for q in data.query_ids])
    strings(list(data.model_names))
    matrix(data.Y)
    matrix(data.cost)
    return f"sha256:{h.hexdigest()}"


# ---------------------------------------------------------------------------------------------- encoding
class _Encoder:
    """Turns fitted state into JSON nodes, collecting arrays for ``state.npz``."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, key: str, value: np.ndarray, where: str) -> dict[str, Any]:
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise SchemaError(
                f"Cannot save {self.owner}: {where} is an object array, which cannot be stored without pickle; "
                "store strings as a list or a fixed-width string array instead."
            )
        if key in self.arrays:  # e.g. a dict key holding a '.': keep both, the node records the real key
            key = f"{key}#{len(self.arrays)}"
        self.arrays[key] = arr
        return {"type": "ndarray", "key": key, "dtype": arr.dtype.str, "shape": list(arr.shape)}

    def encode(self, value: Any, key: str, *, arrays: bool = True) -> Any:
        """The JSON node of ``value``; ``key`` names its arrays in ``state.npz`` (and errors)."""
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"type": "float", "value": repr(value)}
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            return {"type": "scalar", "dtype": value.dtype.str, "value": self.encode(value.item(), key)}
        if type(value) is list:
            return [self.encode(v, f"{key}.{i}", arrays=arrays) for i, v in enumerate(value)]
        if type(value) is tuple:
            return {
                "type": "tuple",
                "items": [self.encode(v, f"{key}.{i}", arrays=arrays) for i, v in enumerate(value)],
            }
        if type(value) is dict:
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise SchemaError(f"Cannot save {self.owner}: {key} is a dict with a non-string key {bad[0]!r}.")
            return {
                "type": "dict",
                "items": [[k, self.encode(v, f"{key}.{k}", arrays=arrays)] for k, v in value.items()],
            }
        if _is_cost_scale(value):
            return {"type": "CostScale", "lo": self.encode(value.lo, key), "hi": self.encode(value.hi, key)}
        if not arrays:
            raise SchemaError(
                f"Cannot save {self.owner}: hyper-parameter {key} is a {type(value).__name__}; "
                "hyper-parameters must be None, bool, int, float, str or lists/tuples/dicts of those."
            )
        if isinstance(value, np.ndarray):
            return self.array(key, value, key)
        if _is_sklearn_estimator(value):
            return self.sklearn(value, key)
        if _is_router(value):
            return self.router(value, key)
        raise SchemaError(
            f"Cannot save {self.owner}: fitted attribute {key} is a {_qualname(type(value))}, "
            "which routerlab does not know how to store safely (numpy arrays, Python scalars, strings, "
            "lists/tuples/dicts of those, scikit-learn estimators and top-level torch modules are supported)."
        )

    def sklearn(self, est: Any, key: str) -> dict[str, Any]:
        sio = _require_skops(self.owner)
        import sklearn

        blob = np.frombuffer(sio.dumps(est), dtype=np.uint8)
        node = self.array(key, blob, key)
        cls = type(est)
        return {
            "type": "sklearn",
            "class": _qualname(cls),
            "format": "skops",
            "sklearn_version": sklearn.__version__,
            "key": node["key"],
            "dtype": node["dtype"],
            "shape": node["shape"],
        }

    def torch_module(self, module: Any, key: str) -> dict[str, Any]:
        state = []
        for name, tensor in module.state_dict().items():
            arr = tensor.detach().cpu().numpy()
            state.append([name, self.array(f"{key}.{name}", arr, f"{key}[{name!r}]")])
        cls = type(module)
        return {"type": "torch_module", "class": _qualname(cls), "state": state}

    def router(self, router: Router, key: str) -> dict[str, Any]:
        """A fitted router held by the router being saved: name, params and fitted state, arrays under ``key``."""
        owner = _check_saveable(router)
        params = {k: self.encode(v, f"{key}.{k}", arrays=False) for k, v in router.get_params().items()}
        return {"type": "router", "router": router.name, "params": params, "attributes": self.state(router, owner, key)}

    def state(self, router: Router, owner: str, prefix: str = "") -> dict[str, Any]:
        """The nodes of ``router``'s fitted attributes (torch modules as their weights)."""
        out: dict[str, Any] = {}
        for name, value in _fitted_attributes(router).items():
            key = f"{prefix}.{name}" if prefix else name
            if _is_torch_module(value):
                if not callable(getattr(router, "_module_skeleton", None)):
                    raise SchemaError(
                        f"Cannot save {owner}: fitted attribute {name} is a torch module and {type(router).__name__} "
                        "has no _module_skeleton(attr) method to rebuild it on loading."
                    )
                out[name] = self.torch_module(value, key)
            else:
                out[name] = self.encode(value, key)
        return out


def _check_saveable(router: Router) -> str:
    """``router 'knn' (KNNRouter)``: raise unless ``router`` is fitted and registered under its own name."""
    from routerlab.routers import ROUTERS

    cls = type(router)
    if not getattr(router, "fitted_", False):
        raise NotFittedError(f"This {cls.__name__} is not fitted yet; fit it before saving it.")
    registered = ROUTERS.get(router.name) if router.name in ROUTERS else None
    if registered is not cls:
        raise SchemaError(
            f"Cannot save {cls.__name__}: routerlab.routers.ROUTERS has {getattr(registered, '__name__', None)!r} "
            f"under its name {router.name!r}; register {cls.__name__} under a name of its own to save it."
        )
    return f"router {router.name!r} ({cls.__name__})"


def _is_router(value: Any) -> bool:
    base = sys.modules.get("routerlab.routers.base")
    return base is not None and isinstance(value, base.Router)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_cost_scale(value: Any) -> bool:
    from routerlab.routers import CostScale

    return isinstance(value, CostScale)


def _is_sklearn_estimator(value: Any) -> bool:
    base = sys.modules.get("sklearn.base")  # not imported: no value can be a scikit-learn estimator
    return base is not None and isinstance(value, base.BaseEstimator)


def _is_torch_module(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def _require_skops(owner: str) -> Any:
    return require(
        "skops.io",
        f"{owner} holds scikit-learn estimators, which routerlab saves and loads with skops, an optional "
        "dependency that is not installed ({exc}); install it with: pip install 'routerlab[persist]'",
    )


def _fitted_attributes(router: Router) -> dict[str, Any]:
    """Instance attributes whose names end in ``_`` (not private ones), in the order fit set them."""
    return {k: v for k, v in vars(router).items() if k.endswith("_") and not k.startswith("_")}


# ---------------------------------------------------------------------------------------------- save
def save_router(router: Router, path: str | os.PathLike[str], encoder: str | None = None) -> Path:
    """Save a fitted router to the folder ``path`` (created if needed) as ``router.json`` + ``state.npz``.

    ``encoder`` is the spec of the encoder whose features the router was fitted on (e.g.
    ``"hashing:v1:..."``); :func:`load_router` then refuses features from another one. The format
    and its safety promise are described in :mod:`routerlab.routers.persist`; nothing is pickled.
    Files are written beside their final names and renamed into place, manifest last. Returns the
    folder.
    """
    from routerlab.routers.base import Router as RouterBase
    from routerlab.routers.pipeline import FeatureRouter

    if not isinstance(router, RouterBase):
        raise TypeError(f"save_router expects a fitted Router. Got {type(router).__name__}.")
    if isinstance(router, FeatureRouter):
        return _save_pipeline(router, path, encoder)
    if encoder is not None and not isinstance(encoder, str):
        raise TypeError(f"encoder must be an encoder spec string or None. Got {type(encoder).__name__}.")
    cls = type(router)
    owner = _check_saveable(router)
    enc = _Encoder(owner)
    params = {k: enc.encode(v, k, arrays=False) for k, v in router.get_params().items()}
    attributes = enc.state(router, owner)

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise SchemaError(f"Cannot save {owner} to {folder}: it is a file; give a folder path.")
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # object arrays were refused above, so nothing here needs pickle; keys end in '_' or hold a '.', so none
    # of them collides with savez's own keyword arguments
    np.savez(buffer, **enc.arrays)  # type: ignore[arg-type]
    state_bytes = buffer.getvalue()
    scale = router.cost_scale_
    manifest = {
        "format": _FORMAT,
        "schema_version": SCHEMA_VERSION,
        "router": router.name,
        "class": _qualname(cls),
        "params": params,
        "routerlab_version": __version__,
        "encoder": encoder,
        "models": list(router.model_names_),
        "cost_unit": getattr(router, "cost_unit_", None),
        "cost_scale": {"lo": enc.encode(scale.lo, "cost_scale"), "hi": enc.encode(scale.hi, "cost_scale")},
        "train_fingerprint": getattr(router, "train_fingerprint_", None),
        "state": {"file": STATE, "sha256": hashlib.sha256(state_bytes).hexdigest()},
        "attributes": attributes,
    }
    atomic_write_bytes(folder / STATE, state_bytes)
    atomic_write_bytes(folder / MANIFEST, _manifest_text(manifest).encode("utf-8"))
    log.info("Saved %s to %s (%d arrays, %d bytes)", owner, folder, len(enc.arrays), len(state_bytes))
    return folder


def _save_pipeline(router: FeatureRouter, path: str | os.PathLike[str], encoder: str | None) -> Path:
    """A :class:`FeatureRouter`: its fitted inner router, saved with the encoder identity, plus a ``pipeline`` entry."""
    if not getattr(router, "fitted_", False):
        raise NotFittedError("This FeatureRouter is not fitted yet; fit it before saving it.")
    if encoder is not None and encoder != router.encoder_:
        raise SchemaError(
            f"FeatureRouter fitted on encoder {router.encoder_!r} cannot be saved as encoder {encoder!r}; "
            "drop encoder= (it is recorded from the router)."
        )
    folder = save_router(router.router_, path, encoder=router.encoder_)
    manifest = read_manifest(folder)
    manifest["pipeline"] = {"router": router.name, "encoder": router.encoder, "cache": bool(router.cache)}
    atomic_write_bytes(folder / MANIFEST, _manifest_text(manifest).encode("utf-8"))
    return folder


def _load_pipeline(inner: Router, manifest: dict[str, Any], file: Path) -> Router:
    """Wrap a loaded inner router back into the :class:`FeatureRouter` that was saved."""
    from routerlab.routers.base import clone
    from routerlab.routers.pipeline import FeatureRouter

    spec = manifest["pipeline"]
    if not (
        isinstance(spec, dict) and spec.get("router") == FeatureRouter.name and isinstance(spec.get("encoder"), str)
    ):
        raise SchemaError(f"{file}: 'pipeline' {spec!r} is not a FeatureRouter entry; {_FIX_RESAVE}.")
    if not isinstance(manifest.get("encoder"), str):
        raise SchemaError(f"{file}: a FeatureRouter must record its encoder identity in 'encoder'; {_FIX_RESAVE}.")
    router = FeatureRouter(encoder=spec["encoder"], router=clone(inner), cache=bool(spec.get("cache", True)))
    router.router_ = inner
    router.encoder_ = manifest["encoder"]
    for name in ("model_names_", "cost_unit_", "cost_scale_", "model_cost_", "train_fingerprint_", "fitted_"):
        if hasattr(inner, name):
            setattr(router, name, getattr(inner, name))
    return router


def _manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest as JSON with one line per top-level field, parameter and fitted attribute (diffable)."""

    def dumps(value: Any) -> str:
        return json.dumps(value, allow_nan=False, ensure_ascii=True)

    lines = []
    for key, value in manifest.items():
        if key in ("params", "attributes") and value:
            inner = ",\n".join(f"  {dumps(k)}: {dumps(v)}" for k, v in value.items())
            lines.append(f" {dumps(key)}: {{\n{inner}\n }}")
        else:
            lines.append(f" {dumps(key)}: {dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# ---------------------------------------------------------------------------------------------- load
def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked manifest (``router.json``) of a saved router folder, without loading the state.

    Raises :class:`~routerlab.errors.DataNotFoundError` when the folder or file is missing and
    :class:`~routerlab.errors.SchemaError` when it is not a routerlab router manifest or comes from
    a newer ``schema_version``.
    """
    folder = Path(path)
    file = folder / MANIFEST
    if not folder.is_dir():
        raise DataNotFoundError(f"No saved router at {folder}: the folder does not exist; save one with save_router.")
    if not file.is_file():
        raise DataNotFoundError(
            f"No saved router at {folder}: {MANIFEST} is missing; the folder must hold {MANIFEST} and {STATE} "
            "as written by routerlab.routers.save_router."
        )
    fix = "restore the file written by routerlab.routers.save_router, or save the router again"
    manifest = parse_json(file.read_bytes(), path=file, fix=fix)
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise SchemaError(f'{file} is not a routerlab router manifest (no "format": "{_FORMAT}"); {fix}.')
    version = manifest.get("schema_version")
    if type(version) is not int or version < 1:
        raise SchemaError(f"{file}: schema_version must be a positive integer. Got {version!r}; {fix}.")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{file} has schema_version {version}, written by routerlab {manifest.get('routerlab_version')!r}; "
            f"this routerlab ({__version__}) reads schema_version {SCHEMA_VERSION} at most. "
            "Upgrade routerlab to load it."
        )
    expected = {
        "router": str,
        "params": dict,
        "models": list,
        "state": dict,
        "attributes": dict,
    }
    for key, kind in expected.items():
        if not isinstance(manifest.get(key), kind):
            raise SchemaError(f"{file}: {key!r} must be a JSON {kind.__name__}. Got {manifest.get(key)!r}; {fix}.")
    if not all(isinstance(m, str) for m in manifest["models"]):
        raise SchemaError(f"{file}: 'models' must be a list of model names; {fix}.")
    encoder = manifest.get("encoder")
    if encoder is not None and not isinstance(encoder, str):
        raise SchemaError(f"{file}: 'encoder' must be a string or null. Got {encoder!r}; {fix}.")
    return manifest


def load_router(
    path: str | os.PathLike[str], *, encoder: str | None = None, models: Sequence[str] | None = None
) -> Router:
    """Load a router saved by :func:`save_router`: a fitted router of the saved class, never unpickled.

    ``encoder`` (the spec of the encoder that made the features you will pass) and ``models`` (the
    pool you will route over, in column order) are checked against the saved ones: a mismatch is a
    :class:`~routerlab.errors.SchemaError` naming both. The format and its safety promise are in
    :mod:`routerlab.routers.persist`.
    """
    from routerlab.routers import ROUTERS

    folder = Path(path)
    manifest = read_manifest(folder)
    file = folder / MANIFEST
    saved_encoder = manifest.get("encoder")
    if encoder is not None and encoder != saved_encoder:
        if saved_encoder is None:
            raise SchemaError(
                f"router saved without an encoder spec cannot confirm features from {encoder!r}; save it with "
                "save_router(router, path, encoder=...) or load it without encoder=."
            )
        raise SchemaError(
            f"router saved with encoder {saved_encoder!r} cannot predict with features from {encoder!r}; "
            f"encode the queries with {saved_encoder!r}, or fit and save a router on {encoder!r} features."
        )
    saved_models = list(manifest["models"])
    if models is not None and list(models) != saved_models:
        same_set = sorted(models) == sorted(saved_models)
        fix = (
            f"reorder the columns with data.select_models({saved_models!r})"
            if same_set
            else "route over the saved pool (data.select_models(...)) or fit and save a router on the new pool"
        )
        raise SchemaError(
            f"router saved with models {saved_models!r} cannot route over models {list(models)!r}; {fix}."
        )

    cls = ROUTERS.get(manifest["router"])  # an unknown name: "Unknown router 'knnn'. Did you mean 'knn'?"
    if manifest.get("routerlab_version") != __version__:
        log.info(
            "Loading a router saved by routerlab %s with routerlab %s", manifest.get("routerlab_version"), __version__
        )
    dec = _Decoder(file, _read_state(folder, manifest))
    params = {str(k): dec.decode(v, f"params.{k}") for k, v in manifest["params"].items()}
    try:
        router = cls(**params)
    except TypeError as exc:
        raise SchemaError(
            f"{file}: the saved parameters do not fit {cls.__name__} ({exc}); valid parameters: {cls._param_names()}. "
            "The router was saved by another version of its class; refit and save it again."
        ) from None
    modules: dict[str, Any] = {}
    for name, node in manifest["attributes"].items():
        if not (isinstance(name, str) and name.endswith("_") and not name.startswith("_")):
            raise SchemaError(f"{file}: {name!r} is not a fitted attribute name (those end in '_'); {_FIX_RESAVE}.")
        if isinstance(node, dict) and node.get("type") == "torch_module":
            modules[name] = node
        else:
            _set_fitted(router, name, dec.decode(node, name), file)
    for name, node in modules.items():  # after the plain state: the skeleton hook reads it (width, prior)
        _set_fitted(router, name, dec.torch_module(router, name, node), file)
    unused = set(dec.npz) - dec.used
    if unused:
        raise SchemaError(
            f"{folder / STATE} holds arrays the manifest does not describe: {sorted(unused)}; {_FIX_RESAVE}."
        )
    _check_consistent(router, manifest, file, dec)
    if "pipeline" in manifest:
        return _load_pipeline(router, manifest, file)
    return router


def _set_fitted(router: Router, name: str, value: Any, file: Path) -> None:
    try:
        setattr(router, name, value)
    except AttributeError:  # e.g. a read-only property of the class (IRTRouter.ability_)
        raise SchemaError(
            f"{file}: {name} is not a settable attribute of {type(router).__name__}; {_FIX_RESAVE}."
        ) from None


def _read_state(folder: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    file = folder / STATE
    if not file.is_file():
        raise DataNotFoundError(
            f"No saved router state at {file}: {STATE} is missing beside {MANIFEST}; {_FIX_RESAVE}."
        )
    raw = file.read_bytes()
    expected = manifest["state"].get("sha256")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise SchemaError(
            f"{file} does not match its manifest (sha256 {actual[:12]}…, the manifest says {str(expected)[:12]}…): "
            f"it was changed or only partly written after saving; {_FIX_RESAVE}."
        )
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            for key in npz.files:
                try:
                    arrays[key] = npz[key]
                except ValueError as exc:
                    if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                        raise SchemaError(
                            f"{file}: entry {key!r} is an object array, which only pickle can read and pickle can run "
                            f"code; routerlab never writes one and refuses to load it. {_FIX_RESAVE}."
                        ) from None
                    raise
    except SchemaError:
        raise
    except Exception as exc:  # a damaged zip or .npy header: numpy/zipfile raise many kinds
        raise SchemaError(f"{file} is not a readable numpy .npz archive ({exc}); {_FIX_RESAVE}.") from None
    return arrays


class _Decoder:
    """Turns JSON nodes back into values, checking each array against its description."""

    def __init__(self, file: Path, npz: dict[str, np.ndarray]) -> None:
        self.file = file
        self.npz = npz
        self.used: set[str] = set()

    def fail(self, where: str, what: str) -> SchemaError:
        return SchemaError(f"{self.file}: {where}: {what}; {_FIX_RESAVE}.")

    def array(self, node: dict[str, Any], where: str) -> np.ndarray:
        key = node.get("key")
        if not isinstance(key, str) or key not in self.npz:
            raise self.fail(where, f"the array {key!r} is missing from {STATE}")
        arr = self.npz[key]
        if arr.dtype.str != node.get("dtype") or list(arr.shape) != node.get("shape"):
            raise self.fail(
                where,
                f"{STATE} entry {key!r} has dtype {arr.dtype.str} and shape {list(arr.shape)}, the manifest says "
                f"{node.get('dtype')} and {node.get('shape')}",
            )
        self.used.add(key)
        return arr

    def decode(self, node: Any, where: str, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail(where, f"nested deeper than {_MAX_DEPTH} levels")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if isinstance(node, list):
            return [self.decode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node)]
        if not isinstance(node, dict):
            raise self.fail(where, f"unexpected value {node!r}")
        kind = node.get("type")
        if kind == "tuple" and isinstance(node.get("items"), list):
            return tuple(self.decode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node["items"]))
        if kind == "dict" and isinstance(node.get("items"), list):
            out = {}
            for item in node["items"]:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise self.fail(where, "a dict item must be a [key, value] pair with a string key")
                out[item[0]] = self.decode(item[1], f"{where}[{item[0]!r}]", depth + 1)
            return out
        if kind == "float" and node.get("value") in ("nan", "inf", "-inf"):
            return float(node["value"])
        if kind == "scalar":
            try:
                dtype = np.dtype(str(node.get("dtype")))
            except TypeError:
                raise self.fail(where, f"unknown scalar dtype {node.get('dtype')!r}") from None
            if dtype.hasobject or dtype.kind not in "biufcU":
                raise self.fail(where, f"a scalar must be numeric, got dtype {dtype}")
            value = self.decode(node.get("value"), where, depth + 1)
            if type(value) not in (bool, int, float, str):
                raise self.fail(where, f"a scalar's value must be a number or a string. Got {value!r}")
            return dtype.type(value)
        if kind == "ndarray":
            return self.array(node, where)
        if kind == "CostScale":
            from routerlab.routers import CostScale

            lo, hi = self.decode(node.get("lo"), where, depth + 1), self.decode(node.get("hi"), where, depth + 1)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
                raise self.fail(where, "a cost scale needs numbers lo and hi")
            return CostScale(float(lo), float(hi))
        if kind == "sklearn":
            return self.sklearn(node, where)
        if kind == "router":
            return self.router(node, where, depth)
        raise self.fail(where, f"unknown value type {kind!r} (this routerlab reads schema_version {SCHEMA_VERSION})")

    def sklearn(self, node: dict[str, Any], where: str) -> Any:
        if node.get("format") != "skops":
            raise self.fail(where, f"unknown estimator format {node.get('format')!r}")
        blob = self.array(node, where)
        if blob.dtype != np.uint8 or blob.ndim != 1:
            raise self.fail(where, "a scikit-learn estimator must be stored as a 1-d uint8 array")
        sio = _require_skops(f"The saved router ({where})")
        data = blob.tobytes()
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as exc:
            raise self.fail(where, f"not a readable skops file ({exc})") from None
        refused = sorted(set(untrusted) - SKOPS_TRUSTED_TYPES)
        if refused:
            raise SchemaError(
                f"{self.file}: {where}: the saved scikit-learn estimator needs types that routerlab does not trust "
                f"to load: {refused}. routerlab loads only the types its routers' estimators hold; a file that needs "
                f"others was not written by routerlab. {_FIX_RESAVE}."
            )
        import sklearn

        if node.get("sklearn_version") != sklearn.__version__:
            log.warning(
                "%s: %s was saved with scikit-learn %s and is loaded with %s; its predictions may differ",
                self.file,
                where,
                node.get("sklearn_version"),
                sklearn.__version__,
            )
        try:
            est = sio.loads(data, trusted=list(untrusted))
        except Exception as exc:
            raise self.fail(
                where, f"skops could not read the scikit-learn estimator ({type(exc).__name__}: {exc})"
            ) from None
        cls = type(est)
        if _qualname(cls) != node.get("class"):
            raise self.fail(where, f"the estimator is a {cls.__qualname__}, the manifest says {node.get('class')!r}")
        return est

    def router(self, node: dict[str, Any], where: str, depth: int) -> Router:
        """A fitted router held by the loaded one, built through its registered class's ``__init__``."""
        from routerlab.routers import ROUTERS

        name, params, attributes = node.get("router"), node.get("params"), node.get("attributes")
        if not (isinstance(name, str) and isinstance(params, dict) and isinstance(attributes, dict)):
            raise self.fail(where, "a router node needs a 'router' name, 'params' and 'attributes'")
        cls = ROUTERS.get(name)  # registered classes only; an unknown name says "did you mean"
        kwargs = {str(k): self.decode(v, f"{where}.params.{k}", depth + 1) for k, v in params.items()}
        try:
            router = cls(**kwargs)
        except TypeError as exc:
            raise self.fail(where, f"the saved parameters do not fit {cls.__name__} ({exc})") from None
        modules = {}
        for attr, sub in attributes.items():
            if not (isinstance(attr, str) and attr.endswith("_") and not attr.startswith("_")):
                raise self.fail(where, f"{attr!r} is not a fitted attribute name (those end in '_')")
            if isinstance(sub, dict) and sub.get("type") == "torch_module":
                modules[attr] = sub
            else:
                _set_fitted(router, attr, self.decode(sub, f"{where}.{attr}", depth + 1), self.file)
        for attr, sub in modules.items():  # after the plain state: the skeleton hook reads it
            _set_fitted(router, attr, self.torch_module(router, attr, sub), self.file)
        if getattr(router, "fitted_", False) is not True:
            raise self.fail(where, f"the saved {cls.__name__} has no fitted_ = True")
        return router

    def torch_module(self, router: Router, name: str, node: dict[str, Any]) -> Any:
        from routerlab.routers.neural import require_torch

        torch = require_torch(f"Loading {type(router).__name__}")
        skeleton = getattr(router, "_module_skeleton", None)
        if not callable(skeleton):
            raise self.fail(
                name, f"{type(router).__name__} has no _module_skeleton(attr) method to rebuild a torch module"
            )
        entries = node.get("state")
        if not isinstance(entries, list) or not all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], dict) for e in entries
        ):
            raise self.fail(name, "a torch module's state must be a list of [name, array] pairs")
        state = {key: self.array(sub, f"{name}[{key!r}]") for key, sub in entries}
        with torch.random.fork_rng(devices=[]):  # building may draw random initial weights: keep the global RNG
            try:
                module = skeleton(name)
            except Exception as exc:
                raise self.fail(name, f"{type(router).__name__} could not rebuild its network ({exc})") from None
        expected = module.state_dict()
        if set(expected) != set(state):
            raise self.fail(
                name,
                f"the saved weights {sorted(state)} do not match the network {type(router).__name__} builds "
                f"{sorted(expected)}",
            )
        for key, arr in state.items():
            target = expected[key]
            if tuple(target.shape) != arr.shape or str(target.dtype).removeprefix("torch.") != arr.dtype.name:
                raise self.fail(
                    name,
                    f"weight {key!r} is {arr.dtype.name}{list(arr.shape)} but the rebuilt network expects "
                    f"{str(target.dtype).removeprefix('torch.')}{list(target.shape)}",
                )
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
        return module.eval()


def _check_consistent(router: Router, manifest: dict[str, Any], file: Path, dec: _Decoder) -> None:
    """The summary fields of the manifest agree with the state they summarise (a hand-edited manifest fails here)."""
    if getattr(router, "fitted_", False) is not True:
        raise SchemaError(f"{file}: the saved state has no fitted_ = True; {_FIX_RESAVE}.")
    names = getattr(router, "model_names_", None)
    if not (isinstance(names, tuple) and list(names) == manifest["models"]):
        raise SchemaError(
            f"{file}: 'models' {manifest['models']!r} differs from the saved model_names_ {names!r}; {_FIX_RESAVE}."
        )
    scale = getattr(router, "cost_scale_", None)
    summary = manifest.get("cost_scale")
    bounds = (
        [dec.decode(summary.get(k), f"cost_scale.{k}") for k in ("lo", "hi")] if isinstance(summary, dict) else None
    )
    if scale is None or bounds != [scale.lo, scale.hi]:
        raise SchemaError(
            f"{file}: 'cost_scale' {summary!r} differs from the saved cost_scale_ {scale!r}; {_FIX_RESAVE}."
        )
    if manifest.get("train_fingerprint") != getattr(router, "train_fingerprint_", None):
        raise SchemaError(f"{file}: 'train_fingerprint' differs from the saved train_fingerprint_; {_FIX_RESAVE}.")
