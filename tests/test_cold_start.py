"""Cold-start shortcuts keep results identical: the model hash read from its sidecar, the
prefix channel's vocabulary scan."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rag.index import e5_onnx, model_hash
from rag.search.prefix import _KK_PREFIX_TERM, fold, fold_prefix_terms
from rag.text.translit import CYRILLIC_WORD

RECIPE = e5_onnx.fingerprint_recipe("int8")


def plain_digest(path: Path, recipe: str = RECIPE) -> str:
    """The fingerprint's formula before the sidecar: sha256 of the bytes, then the recipe."""
    return hashlib.sha256(path.read_bytes() + recipe.encode()).hexdigest()


def sidecar(path: Path) -> dict:
    return json.loads(path.with_name(path.name + model_hash.HASH_SIDECAR_SUFFIX).read_text("utf-8"))


def test_digest_matches_the_full_hash_and_is_recorded(tmp_path: Path) -> None:
    model = tmp_path / "model_qint8.onnx"
    model.write_bytes(b"weights" * 1000)
    assert model_hash.model_digest(model, RECIPE) == plain_digest(model)
    record = sidecar(model)
    assert record["size"] == model.stat().st_size
    assert record["mtime_ns"] == model.stat().st_mtime_ns
    assert record["digests"] == {RECIPE: plain_digest(model)}


def test_unchanged_file_is_read_from_the_sidecar(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"a" * 100)
    model_hash.write_hash_sidecar(model, [RECIPE])
    path = model.with_name(model.name + model_hash.HASH_SIDECAR_SUFFIX)
    record = json.loads(path.read_text("utf-8"))
    record["digests"][RECIPE] = "f" * 64  # only a read of the sidecar can return this
    path.write_text(json.dumps(record), "utf-8")
    assert model_hash.model_digest(model, RECIPE) == "f" * 64


def test_changed_file_is_hashed_again(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"a" * 100)
    before = model_hash.model_digest(model, RECIPE)
    stamp = model.stat()
    model.write_bytes(b"b" * 100)  # same size, new bytes
    os.utime(model, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))
    after = model_hash.model_digest(model, RECIPE)
    assert after == plain_digest(model) != before
    assert sidecar(model)["mtime_ns"] == model.stat().st_mtime_ns
    model.write_bytes(b"c" * 101)  # a new size
    assert model_hash.model_digest(model, RECIPE) == plain_digest(model)


def test_other_recipe_is_added_beside_the_first(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"x" * 10)
    fp32 = e5_onnx.fingerprint_recipe("fp32")
    model_hash.model_digest(model, RECIPE)
    assert model_hash.model_digest(model, fp32) == plain_digest(model, fp32)
    assert sidecar(model)["digests"] == {RECIPE: plain_digest(model), fp32: plain_digest(model, fp32)}


def test_broken_sidecar_falls_back_to_hashing(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"y" * 10)
    model.with_name(model.name + model_hash.HASH_SIDECAR_SUFFIX).write_text("{not json", "utf-8")
    assert model_hash.model_digest(model, RECIPE) == plain_digest(model)


def per_term_keys(vocabulary: dict[str, int]) -> dict[str, list[int]]:
    """The channel's scan before batching: ``fold`` on each prefix term."""
    keys: dict[str, list[int]] = {}
    for term, tid in vocabulary.items():
        word = term[1:]
        if term.startswith(_KK_PREFIX_TERM) and CYRILLIC_WORD.fullmatch(word):
            keys.setdefault(fold(word), []).append(tid)
    return keys


def test_batched_prefix_scan_equals_folding_each_term() -> None:
    terms = ["~фотос", "фотосинтез", "~фотоc", "~эссен", "~ессен", "~аллаһ", "~ъъъ", "~ьъ",
             "~photo", "~қазақ", "~казак", "~ззззс", "~сс", "~ыйі", "~1984", "~кітап", "~китап",
             "~фотосинтездің", "~", "~а", "~аа", "~ааъа", "~жұлдыз"]  # fmt: skip
    vocabulary = {t: i for i, t in enumerate(terms)}
    got = fold_prefix_terms(vocabulary)
    assert got == per_term_keys(vocabulary)
    assert list(got) == list(per_term_keys(vocabulary))  # first-seen order too
    assert got["фотос"] == [0, 17]  # the full word folds by its first five letters
    assert got["касак"] == [9, 10]


def test_vocabulary_without_prefix_terms_has_no_keys() -> None:
    assert fold_prefix_terms({"photo": 0, "~photo": 1}) == {} == per_term_keys({"photo": 0})


def test_saved_postings_read_what_bm25s_reads(tmp_path: Path) -> None:
    import bm25s
    import numpy as np

    from rag.index.bm25 import BM25Channel

    texts = ["Фотосинтез өсімдіктерде жүреді", "Photosynthesis happens in plants",
             "Фотосинтез происходит в растениях", "Абай Құнанбайұлы ақын"]  # fmt: skip
    langs = ["kk", "en", "ru", "kk"]
    BM25Channel.build(texts, langs).save(tmp_path / "a")
    for mmap in (False, True):
        ours = BM25Channel.load(tmp_path / "a", mmap=mmap)
        theirs = bm25s.BM25.load(tmp_path / "a", mmap=mmap, show_progress=False)
        assert ours._model is not None
        assert ours._model.vocab_dict == theirs.vocab_dict
        assert ours._model.scores["num_docs"] == theirs.scores["num_docs"] == len(texts)
        for key in ("data", "indices", "indptr"):
            assert np.array_equal(ours._model.scores[key], theirs.scores[key])
    ours.save(tmp_path / "b")  # a loaded index written again reads back the same
    again = BM25Channel.load(tmp_path / "b")
    for q, lang in (("фотосинтез", "kk"), ("plants", "en"), ("растениях", "ru")):
        assert again.search(q, lang, 4) == ours.search(q, lang, 4) != []
    assert bm25s.BM25.load(tmp_path / "b", show_progress=False).vocab_dict == theirs.vocab_dict
