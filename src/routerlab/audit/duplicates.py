"""Duplicate queries: exact text duplicates, near duplicates by embedding cosine, conflicting labels, leakage.

`rethinking-router-evaluation.txt` ("Who Routes the Router") §4.2 (Problem 2) and §4.5 call two queries duplicates when
the cosine of their embeddings is at least δ = 0.999, group them, and find that nearly every group
carries conflicting labels ("99.9 % of these groups contained label disagreements across models",
"every duplicate group (100 %) exhibits label disagreements" on CARROT). Removing them changes
learned routers (Table 1). This module finds such groups without ever forming the n × n similarity
matrix (:func:`near_duplicate_pairs` works on ``block_size × block_size`` tiles of the upper
triangle and keeps only the pairs above δ), joins pairs into groups with a union-find, measures
label disagreement and train/test leakage, and writes a de-duplicated dataset (:func:`dedupe`).

An encoder reads a bounded number of tokens (all-MiniLM-L6-v2: 254 word pieces, model2vec: 512), so
two long texts that share a passage and differ only in a final question embed identically: their
difference was never encoded. :func:`verify_pairs` therefore checks every candidate pair in which
the encoder cut a text (:func:`routerlab.data.features.token_spans`, from the tokenizer alone) by
comparing the texts themselves, and drops the pairs whose unread parts differ as "not verifiable".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab._arrays import l2_normalise
from routerlab._random import rng
from routerlab.audit._common import RETHINKING, answered, share
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData
from routerlab.data.splits import normalise_text as normalise_text  # routers group folds by it too
from routerlab.errors import SchemaError
from routerlab.routers.baselines import oracle_choice

if TYPE_CHECKING:
    from routerlab.data.features.encoders import Encoder, TokenSpans

DEFAULT_THRESHOLD = 0.999
DEFAULT_BLOCK = 2048
TRAIN_SPLITS = ("train", "val")
EVAL_SPLITS = ("test", "ood")


# ---------------------------------------------------------------------------------------- grouping
def exact_duplicate_groups(texts: Sequence[str] | np.ndarray) -> list[np.ndarray]:
    """Groups (row-index arrays, ascending, size >= 2) of texts equal after :func:`normalise_text`."""
    seen: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        seen.setdefault(normalise_text(str(t)), []).append(i)
    groups = [np.asarray(v, dtype=np.intp) for v in seen.values() if len(v) > 1]
    return sorted(groups, key=lambda g: int(g[0]))


class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.intp)
        self.size = np.ones(n, dtype=np.intp)

    def find(self, i: int) -> int:
        """The representative of ``i``'s set."""
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    def union(self, a: int, b: int) -> None:
        """Join the sets of ``a`` and ``b``."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def groups(self, min_size: int = 2) -> list[np.ndarray]:
        """Sets with at least ``min_size`` members, as ascending index arrays, ordered by first member."""
        roots = self.parent.copy()
        while True:  # pointer jumping, vectorised: every entry ends at its set's representative
            nxt = roots[roots]
            if np.array_equal(nxt, roots):
                break
            roots = nxt
        _, inverse, counts = np.unique(roots, return_inverse=True, return_counts=True)
        members = np.flatnonzero(counts[inverse] >= min_size)  # skip singletons before splitting
        members = members[np.argsort(roots[members], kind="stable")]
        bounds = np.flatnonzero(np.diff(roots[members])) + 1
        out = [np.sort(g) for g in np.split(members, bounds)] if len(members) else []
        return sorted(out, key=lambda g: int(g[0]))


def group_pairs(n: int, pairs: np.ndarray | Iterable[tuple[int, int]]) -> list[np.ndarray]:
    """Connected groups (size >= 2) of ``n`` items linked by ``pairs`` (an (k, 2) array), via union-find."""
    uf = UnionFind(n)
    for a, b in np.asarray(list(pairs) if not isinstance(pairs, np.ndarray) else pairs, dtype=np.intp).reshape(-1, 2):
        uf.union(int(a), int(b))
    return uf.groups()


def _unit_rows(X: np.ndarray) -> np.ndarray:
    x = np.asarray(X, dtype=np.float32)
    if x.ndim != 2:
        raise SchemaError(f"Embeddings must be a (n_queries, dim) matrix. Got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise SchemaError("Embeddings contain NaN or inf; re-encode the queries.")
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    if np.allclose(norms[norms > 0], 1.0, atol=1e-4):
        return x  # already unit rows: no copy
    return l2_normalise(x, dtype=np.float32)


def near_duplicate_pairs(
    X: np.ndarray, threshold: float = DEFAULT_THRESHOLD, block_size: int = DEFAULT_BLOCK
) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, with cosine(X[i], X[j]) >= ``threshold``, as an (k, 2) int array.

    Rows are L2-normalised (a copy only if they are not unit already) and compared tile by tile over
    the upper triangle: peak extra memory is one ``block_size × block_size`` float32 tile (16 MiB at
    2,048) plus the pairs kept, never an n × n matrix.
    """
    if not -1.0 <= threshold <= 1.0:
        raise SchemaError(f"A cosine threshold must be in [-1, 1]. Got {threshold}.")
    if block_size < 1:
        raise SchemaError(f"block_size must be a positive number of rows. Got {block_size}.")
    x = _unit_rows(X)
    n = len(x)
    found: list[np.ndarray] = []
    thr = np.float32(threshold)
    for i0 in range(0, n, block_size):
        a = x[i0 : i0 + block_size]
        for j0 in range(i0, n, block_size):
            tile = a @ x[j0 : j0 + block_size].T
            hit = tile >= thr
            if j0 == i0:
                hit &= np.triu(np.ones(hit.shape, dtype=bool), k=1)
            if hit.any():
                ii, jj = np.nonzero(hit)
                found.append(np.stack([ii + i0, jj + j0], axis=1))
            del tile, hit
    if not found:
        return np.zeros((0, 2), dtype=np.intp)
    return np.concatenate(found).astype(np.intp, copy=False)


def near_duplicate_groups(
    X: np.ndarray, threshold: float = DEFAULT_THRESHOLD, block_size: int = DEFAULT_BLOCK
) -> list[np.ndarray]:
    """Groups of rows linked by cosine >= ``threshold`` (:func:`near_duplicate_pairs` + union-find)."""
    return group_pairs(len(X), near_duplicate_pairs(X, threshold, block_size))


# ------------------------------------------------------------------------------ truncated texts
#: Why :func:`verify_pairs` kept or dropped a pair.
READ_WHOLE = "read_whole"  # neither text was cut: the embeddings saw all of both
UNREAD_EQUAL = "unread_equal"  # the parts the encoder never read are equal after normalise_text
DIFFERENCE_READ = "difference_read"  # the texts differ only inside the parts the encoder read
UNVERIFIABLE = "unverifiable"  # they differ in a part the encoder never read: not a duplicate we can vouch for


def _common_prefix_len(a: str, b: str) -> int:
    """Length of the longest common prefix of ``a`` and ``b`` (compared in chunks, then character by character)."""
    n, k, step = min(len(a), len(b)), 0, 256
    while k + step <= n and a[k : k + step] == b[k : k + step]:
        k += step
    while k < n and a[k] == b[k]:
        k += 1
    return k


def _pair_status(a: str, b: str, kept_a: int, kept_b: int) -> str:
    """Status of one candidate pair of which at least one text was cut (``kept_*``: characters read)."""
    if normalise_text(a[kept_a:]) == normalise_text(b[kept_b:]):
        return UNREAD_EQUAL
    p = _common_prefix_len(a, b)
    s = _common_prefix_len(a[p:][::-1], b[p:][::-1])  # the common suffix, not overlapping the prefix
    if len(a) - s <= kept_a and len(b) - s <= kept_b:
        return DIFFERENCE_READ
    return UNVERIFIABLE


def verify_pairs(texts: Sequence[str] | np.ndarray, pairs: np.ndarray, spans: TokenSpans) -> np.ndarray:
    """Check near-duplicate ``pairs`` found by embedding against the parts of the texts the encoder never read.

    ``spans`` (:func:`routerlab.data.features.token_spans` of ``texts``) says how many characters of
    each text the encoder read. A pair is kept when neither text was cut (``"read_whole"``), when the
    unread remainders are equal after :func:`normalise_text` (``"unread_equal"``: e.g. a typo in a
    shared passage, the same final question), or when everything that differs between the two texts
    (between their common prefix and common suffix) lies inside both read parts
    (``"difference_read"``). Otherwise the texts differ where no embedding looked, e.g. two questions
    after one long passage, and the pair is ``"unverifiable"``. Returns one status string per pair.
    """
    pairs = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    status = np.full(len(pairs), READ_WHOLE, dtype=object)
    cut = spans.truncated[pairs[:, 0]] | spans.truncated[pairs[:, 1]]
    if not cut.any():
        return status
    kept = spans.kept_chars
    rows = np.unique(pairs[cut])
    # once per text, not per pair: the unread remainder, normalised, as a small integer id
    ids: dict[str, int] = {}
    rest = np.full(len(kept), -1, dtype=np.int64)
    for i in rows:
        rest[i] = ids.setdefault(normalise_text(str(texts[i])[int(kept[i]) :]), len(ids))
    a, b = pairs[:, 0], pairs[:, 1]
    equal = cut & (rest[a] == rest[b])
    status[equal] = UNREAD_EQUAL
    for k in np.flatnonzero(cut & ~equal):
        i, j = int(a[k]), int(b[k])
        ti, tj = str(texts[i]), str(texts[j])
        unread = max(len(ti) - int(kept[i]), len(tj) - int(kept[j]))
        # necessary for "difference_read": both texts end with the longer unread part (cheap to rule out)
        if unread <= min(len(ti), len(tj)) and ti[len(ti) - unread :] == tj[len(tj) - unread :]:
            status[k] = _pair_status(ti, tj, int(kept[i]), int(kept[j]))
        else:
            status[k] = UNVERIFIABLE
    return status


def _truncation_numbers(spans: TokenSpans | None, n_texts: int) -> dict[str, Any]:
    if spans is None:
        return {"n_texts_truncated": None, "max_tokens": None}
    return {
        "n_texts_truncated": spans.n_truncated,
        "truncated_share": round(spans.n_truncated / max(n_texts, 1), 4),
        "max_tokens": spans.max_tokens,
        "max_text_tokens": int(spans.n_tokens.max()) if len(spans) else 0,
    }


# ---------------------------------------------------------------------------------------- measures
def label_disagreement(data: RoutingData, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Per group: True when some model's observed outcome differs between members (a conflicting label)."""
    out = np.zeros(len(groups), dtype=bool)
    obs = data.observed
    for k, g in enumerate(groups):
        y, o = data.Y[g], obs[g]
        hi = np.where(o, y, -np.inf).max(axis=0)
        lo = np.where(o, y, np.inf).min(axis=0)
        out[k] = bool(((o.sum(axis=0) >= 2) & (hi != lo)).any())
    return out


def _random_pair_disagreement(data: RoutingData, n_pairs: int = 2000, seed: int = 0) -> float | None:
    """Share of random query pairs (both answered) where some model observed on both differs: the base rate."""
    rows = np.flatnonzero(answered(data))
    if len(rows) < 2:
        return None
    g = rng(seed)
    a = g.choice(rows, n_pairs)
    b = g.choice(rows, n_pairs)
    keep = a != b
    a, b = a[keep], b[keep]
    obs = data.observed
    both = obs[a] & obs[b]
    differ = both & (np.nan_to_num(data.Y[a]) != np.nan_to_num(data.Y[b]))
    usable = both.any(axis=1)
    return share(int(differ.any(axis=1)[usable].sum()), int(usable.sum()))


def _summary(data: RoutingData, groups: Sequence[np.ndarray]) -> dict[str, Any]:
    sizes = np.array([len(g) for g in groups], dtype=int)
    disagree = label_disagreement(data, groups)
    labels = oracle_choice(data)
    label_conflict = np.array([len(set(labels[g][labels[g] >= 0].tolist())) > 1 for g in groups], dtype=bool)
    cats = data.categories if data.categories is not None else data.sources
    cross_cat = np.array([len(set(cats[g].astype(str).tolist())) > 1 for g in groups], dtype=bool)
    n = len(groups)
    return {
        "n_groups": n,
        "n_queries_in_groups": int(sizes.sum()),
        "n_extra_copies": int((sizes - 1).sum()),
        "share_of_queries": round(float(sizes.sum()) / max(data.n_queries, 1), 4),
        "mean_group_size": round(float(sizes.mean()), 3) if n else None,
        "max_group_size": int(sizes.max()) if n else None,
        "n_disagreeing": int(disagree.sum()),
        "disagree_share": round(int(disagree.sum()) / n, 4) if n else None,
        "oracle_label_disagree_share": round(int(label_conflict.sum()) / n, 4) if n else None,
        "n_cross_category": int(cross_cat.sum()),
    }


def leakage(data: RoutingData, groups: Sequence[np.ndarray]) -> dict[str, Any]:
    """Groups spanning splits: counts per split pair, and the groups joining a training and an evaluation split."""
    pairs: dict[str, int] = {}
    leaking: list[int] = []
    for k, g in enumerate(groups):
        sp = sorted(set(data.splits[g].astype(str).tolist()))
        if len(sp) < 2:
            continue
        pairs["+".join(sp)] = pairs.get("+".join(sp), 0) + 1
        if any(s in TRAIN_SPLITS for s in sp) and any(s in EVAL_SPLITS for s in sp):
            leaking.append(k)
    return {"split_combinations": pairs, "train_eval_groups": leaking}


def dedupe(data: RoutingData, groups: Sequence[np.ndarray], keep: str = "first") -> RoutingData:
    """A copy of ``data`` with each duplicate group reduced to one query (or none).

    ``keep="first"`` keeps the lowest row of each group, ``"last"`` the highest, ``"none"`` drops
    every member (the labels conflict, so no copy can be trusted). Rows outside the groups stay, in
    order. The result records what was removed in ``meta["dedupe"]``.
    """
    if keep not in ("first", "last", "none"):
        raise SchemaError(f"keep must be 'first', 'last' or 'none'. Got {keep!r}.")
    drop = np.zeros(data.n_queries, dtype=bool)
    for g in groups:
        g = np.sort(np.asarray(g, dtype=np.intp))
        if len(g) and (g.min() < 0 or g.max() >= data.n_queries):
            raise SchemaError(f"A duplicate group holds row {int(g.max())}, beyond the {data.n_queries} queries.")
        if keep == "first":
            drop[g[1:]] = True
        elif keep == "last":
            drop[g[:-1]] = True
        else:
            drop[g] = True
    out = data.subset(~drop)
    meta = dict(out.meta)
    meta["dedupe"] = {"keep": keep, "n_groups": len(groups), "n_removed": int(drop.sum())}
    return dataclasses.replace(out, meta=meta)


# ---------------------------------------------------------------------------------------- the check
def duplicates(
    data: RoutingData,
    *,
    X: np.ndarray | None = None,
    encoder: str | Encoder | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    block_size: int = DEFAULT_BLOCK,
) -> list[Finding]:
    """Exact and near-duplicate queries, their conflicting labels, and train/test leakage.

    * **Exact duplicates**: texts equal after collapsing whitespace and case-folding.
    * **Near duplicates**: ``cos(e_i, e_j) = <e_i, e_j> / (||e_i|| ||e_j||) >= δ`` with δ = ``threshold``
      (0.999, `rethinking-router-evaluation.txt` ("Who Routes the Router") §4.2 Problem 2, §4.5), over the embeddings
      ``X`` given, else ``encode(data, encoder)`` when an ``encoder`` is named and the data has text; pairs are joined
      into groups by union-find (exact duplicates included). Skipped, with an info finding, otherwise.
    * **Truncation**: with an ``encoder`` (a name or an :class:`~routerlab.data.features.Encoder`; with ``X``
      too, the encoder that made ``X``), its tokenizer says which texts it cut (``n_texts_truncated``, also
      in the title), and each pair with a cut text is checked on the texts (:func:`verify_pairs`): pairs
      that differ in a part the encoder never read (a shared passage followed by different questions) are
      dropped as not verifiable (``n_pairs_unverifiable``, examples in ``unverifiable_examples``). Without
      an encoder, truncation is unknown and said so.
    * **Label disagreement**: a group disagrees when any model's observed outcome differs between its
      members (§4.2: "label disagreements across models"); also reported: the share of groups whose oracle
      labels differ, and the base rate on random query pairs for comparison (the paper contrasts 99.9 %
      with an overall 37.7 %).
    * **Leakage**: groups with members in a training split (train/val) and an evaluation split
      (test/ood) — an error, since the test copy's label was seen in training.

    Write a cleaned dataset with :func:`dedupe`.
    """
    check = "duplicates"
    ref = f"{RETHINKING} §4.2 (Problem 2, Table 1), §4.5"
    findings: list[Finding] = []
    if data.texts is None and X is None:
        return [
            make_finding(
                check,
                "info",
                "Skipped: the dataset has no query text and no embeddings were given",
                advice="Pass embeddings (X=...) computed from the original questions to look for near duplicates.",
                reference=ref,
            )
        ]
    base = _random_pair_disagreement(data)
    exact: list[np.ndarray] = []
    if data.texts is not None:
        exact = exact_duplicate_groups(data.texts)
        s = _summary(data, exact)
        s["random_pair_disagree_share"] = None if base is None else round(base, 4)
        if exact:
            title = (
                f"{s['n_groups']} exact-duplicate groups ({s['n_queries_in_groups']} queries); "
                f"{s['disagree_share']:.0%} have conflicting labels"
            )
        else:
            title = "No exact duplicate texts"
        findings.append(
            make_finding(
                check,
                "warning" if exact else "info",
                title,
                numbers=s,
                involved=[data.query_ids[g[0]] for g in exact],
                advice="Duplicates with conflicting labels teach routers noise. Deduplicate before training "
                "(routerlab.audit.dedupe(data, groups, keep='first' or 'none')) and compare routers on the "
                "cleaned set.",
                reference=ref,
            )
        )
    groups = exact
    given = X is not None
    enc: Encoder | None = None
    if encoder is not None and data.texts is not None:
        from routerlab.data.features import get_encoder

        enc = get_encoder(encoder) if isinstance(encoder, str) else encoder
    if X is None and enc is not None:
        from routerlab.data.features import encode

        X = encode(data, enc)
    if X is not None:
        if len(X) != data.n_queries:
            raise SchemaError(
                f"X has {len(X)} rows but the dataset has {data.n_queries} queries; give one row per query."
            )
        pairs = near_duplicate_pairs(X, threshold, block_size)
        spans: TokenSpans | None = None
        if enc is not None and data.texts is not None:
            from routerlab.data.features import token_spans

            spans = token_spans(enc, [str(t) for t in data.texts])
        n_candidates = len(pairs)
        unverifiable = np.zeros((0, 2), dtype=np.intp)
        if spans is not None and data.texts is not None and len(pairs):
            status = verify_pairs(data.texts, pairs, spans)
            unverifiable = pairs[status == UNVERIFIABLE]
            pairs = pairs[status != UNVERIFIABLE]
        exact_pairs = [(int(g[0]), int(m)) for g in exact for m in g[1:]]
        all_pairs = np.concatenate([pairs, np.asarray(exact_pairs, dtype=np.intp).reshape(-1, 2)])
        groups = group_pairs(data.n_queries, all_pairs)
        s = _summary(data, groups)
        s["threshold"] = threshold
        s["n_pairs_above_threshold"] = n_candidates
        s["embeddings"] = "given (X=)" if enc is None else f"encoder {enc.name!r}" + (" (X= given)" if given else "")
        s.update(_truncation_numbers(spans, data.n_queries))
        s["n_pairs_unverifiable"] = None if spans is None else len(unverifiable)
        s["unverifiable_examples"] = [[data.query_ids[int(a)], data.query_ids[int(b)]] for a, b in unverifiable[:5]]
        s["random_pair_disagree_share"] = None if base is None else round(base, 4)
        if spans is None:
            cut = "; truncation unknown (no encoder named)"
        else:
            cut = f"; {spans.n_truncated} texts truncated by the encoder"
            if spans.max_tokens is not None:
                cut += f" (at {spans.max_tokens} tokens)"
            if len(unverifiable):
                cut += f", {len(unverifiable)} pairs differing past the cut dropped as not verifiable"
        title = (
            f"{s['n_groups']} near-duplicate groups at cosine >= {threshold:g} ({s['n_queries_in_groups']} queries); "
            f"{s['disagree_share']:.0%} have conflicting labels{cut}"
            if groups
            else f"No near duplicates at cosine >= {threshold:g}{cut}"
        )
        findings.append(
            make_finding(
                check,
                "warning" if groups else "info",
                title,
                numbers=s,
                involved=[data.query_ids[g[0]] for g in groups],
                advice="Inspect a few groups: paraphrases of one question across tasks (e.g. the same GPQA item in "
                "several subsets) with different labels are label noise; deduplicate before training. An encoder "
                "reads a bounded number of tokens: name it (encoder=...) so pairs that differ past its cut (a shared "
                "passage, then different questions) are checked on the text and not counted as duplicates.",
                reference=ref,
            )
        )
    else:
        findings.append(
            make_finding(
                check,
                "info",
                "Near duplicates not checked: pass embeddings (X=) or an encoder (encoder='minilm')",
                numbers={"threshold": threshold},
                reference=ref,
            )
        )
    leak = leakage(data, groups)
    leaking = leak["train_eval_groups"]
    if leak["split_combinations"]:
        members = [data.query_ids[i] for k in leaking for i in groups[k]]
        n_test = int(sum(np.isin(data.splits[groups[k]], EVAL_SPLITS).sum() for k in leaking))
        findings.append(
            make_finding(
                check,
                "error" if leaking else "warning",
                f"{len(leaking)} duplicate groups span a training and an evaluation split ({n_test} evaluation queries)"
                if leaking
                else "Duplicate groups span train and val",
                numbers={
                    "n_groups_train_eval": len(leaking),
                    "n_eval_queries_leaked": n_test,
                    "split_combinations": leak["split_combinations"],
                },
                involved=members,
                advice="The evaluation copy of each group was seen in training: its score measures memory, not "
                "routing. Re-split by duplicate group (assign each group to one split) or drop the evaluation "
                "copies, then re-run the evaluation.",
                reference=f"{ref}; {RETHINKING} §4.4 (OOD hold-outs must be unseen)",
            )
        )
    return findings
