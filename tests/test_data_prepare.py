import csv
import json

import numpy as np
import pytest

from scalelab.data.loader import TokenData
from scalelab.data.prepare import info, prepare
from scalelab.data.spec import spec_from_dict
from scalelab.data.synthetic import SyntheticLanguage
from scalelab.errors import InputError


def _spec(**over):
    data = {
        "name": "syn",
        "seed": 0,
        "sources": [{"kind": "synthetic", "n_docs": 200}],
        "tokenizer": {"kind": "bpe", "vocab_size": 400},
        "split": {"validation": 0.1, "test": 0.1},
    }
    data.update(over)
    return spec_from_dict(data)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "syn"
    return out, prepare(_spec(), out)


def _docs(out):
    with open(out / "documents.tsv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_manifest_counts_match_files(built):
    out, m = built
    assert m["tokenizer"]["vocab_size"] == 400 and m["dtype"] == "uint16"
    for s in m["splits"].values():
        arr = np.fromfile(out / s["file"], dtype=np.uint16)
        assert len(arr) == s["tokens"] > 0
        assert (arr == m["tokenizer"]["eot_id"]).sum() == s["docs"]  # one separator per document
        assert arr.max() < 400
    assert sum(s["docs"] for s in m["splits"].values()) == 200
    assert m["splits"]["validation"]["docs"] == 20 and m["splits"]["test"]["docs"] == 20
    assert m["effective_tokens"]["train"] == m["splits"]["train"]["tokens"]
    assert info(out)["splits"]["train"]["tokens"] == m["splits"]["train"]["tokens"]
    assert (out / "tokenizer.json").is_file()
    assert m["checklist"]["sources"][0].startswith("synthetic (train)")


def test_heldout_documents_never_appear_in_training(built):
    out, m = built
    rows = _docs(out)
    by_split = {}
    for r in rows:
        by_split.setdefault(r["split"], set()).add(r["key"])
    assert by_split["train"].isdisjoint(by_split["validation"])
    assert by_split["train"].isdisjoint(by_split["test"])
    assert by_split["validation"].isdisjoint(by_split["test"])
    # and by content: decode the train stream and look for every held-out document's text
    data = TokenData.open(out)
    tok = data.tokenizer()
    train_text = tok.decode(data.tokens("train"))
    lang = SyntheticLanguage()
    for r in rows:
        text = lang.document(int(r["key"])).strip()
        if r["split"] in ("validation", "test"):
            assert text not in train_text
        else:
            assert text in train_text
    # token offsets recorded per document point at that document in its split file
    r = next(r for r in rows if r["split"] == "validation")
    ids = data.tokens("validation")[
        int(r["token_offset"]) : int(r["token_offset"]) + int(r["tokens"])
    ]
    assert ids[-1] == data.eot_id and tok.decode(ids[:-1]) == lang.document(int(r["key"])).strip()


def test_prepare_is_deterministic_and_seeded(built, tmp_path):
    _, m = built
    m2 = prepare(_spec(), tmp_path / "again")
    assert m2["data_hash"] == m["data_hash"] and m2["tokenizer"]["hash"] == m["tokenizer"]["hash"]
    m3 = prepare(_spec(seed=1), tmp_path / "seed1")
    assert m3["data_hash"] != m["data_hash"]
    assert m3["split_assignment"]["seed"] == 1


def test_exact_and_near_duplicates_removed_and_counted(tmp_path):
    lang = SyntheticLanguage()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    base = [lang.document(i).strip() for i in range(40)]
    for i, t in enumerate(base):
        (corpus / f"d{i:03d}.txt").write_text(t)
    for i in range(5):  # exact copies (different whitespace and case)
        (corpus / f"e{i:03d}.txt").write_text("  " + base[i].upper().replace(" ", "  ") + "\n")
    for i in range(5, 12):  # near copies: one word changed in a long document
        words = (base[i] + " " + base[i + 20]).split()
        (corpus / f"n{i:03d}a.txt").write_text(" ".join(words))
        words[len(words) // 2] = "CHANGED"
        (corpus / f"n{i:03d}b.txt").write_text(" ".join(words))
    spec = spec_from_dict(
        {"sources": [{"kind": "text", "path": str(corpus)}], "tokenizer": {"kind": "bytes"}}
    )
    m = prepare(spec, tmp_path / "out")
    pool = m["dedup"]["pool"]
    assert pool["exact_duplicates"] == 5
    assert pool["near_duplicates"] == 7
    assert pool["docs_kept"] == 40 + 7
    assert pool["bytes_removed"] > 0 and pool["tokens_removed_estimate"] > 0
    assert sum(s["docs"] for n, s in m["splits"].items()) == 47

    spec_off = spec_from_dict(
        {
            "sources": [{"kind": "text", "path": str(corpus)}],
            "tokenizer": {"kind": "bytes"},
            "dedup": {"exact": False, "near": False},
        }
    )
    assert prepare(spec_off, tmp_path / "off")["dedup"]["pool"]["docs_kept"] == 59


def test_eval_set_overlapping_training_pool_is_dropped(tmp_path):
    lang = SyntheticLanguage()
    p = tmp_path / "ood.jsonl"
    p.write_text("\n".join(json.dumps({"text": lang.document(i)}) for i in (3, 500, 501)) + "\n")
    spec = spec_from_dict(
        {
            "sources": [
                {"kind": "synthetic", "n_docs": 30},
                {"kind": "jsonl", "path": str(p), "role": "eval", "name": "ood"},
            ],
            "tokenizer": {"kind": "bytes"},
        }
    )
    m = prepare(spec, tmp_path / "out")
    assert m["splits"]["ood"]["docs"] == 2 and m["splits"]["ood"]["role"] == "ood"
    ev = m["dedup"]["eval"]["ood"]
    assert ev["overlaps_train_pool"] == 1 and ev["docs_in"] == 3 and ev["docs_kept"] == 2


def test_bytes_tokenizer_roundtrip(tmp_path):
    m = prepare(
        _spec(tokenizer={"kind": "bytes"}, sources=[{"kind": "synthetic", "n_docs": 20}]),
        tmp_path / "b",
    )
    assert m["tokenizer"]["vocab_size"] == 256 and m["tokenizer"]["eot_id"] == 3
    data = TokenData.open(tmp_path / "b")
    arr = np.asarray(data.tokens("train"))
    assert arr.max() < 256
    assert data.tokenizer().decode(arr).count("\x03") == m["splits"]["train"]["docs"]


def test_existing_tokenizer_file(built, tmp_path):
    out, m = built
    m2 = prepare(
        _spec(
            tokenizer={"kind": "file", "path": str(out / "tokenizer.json")},
            sources=[{"kind": "synthetic", "n_docs": 30, "seed": 9}],
        ),
        tmp_path / "f",
    )
    assert m2["tokenizer"]["hash"] == m["tokenizer"]["hash"] and m2["tokenizer"]["kind"] == "file"


def test_tiny_pool_still_gets_heldout_docs_and_too_tiny_fails(tmp_path):
    m = prepare(
        _spec(sources=[{"kind": "synthetic", "n_docs": 3}], tokenizer={"kind": "bytes"}),
        tmp_path / "t",
    )
    assert [m["splits"][s]["docs"] for s in ("train", "validation", "test")] == [1, 1, 1]
    with pytest.raises(InputError, match="needs at least 3"):
        prepare(
            _spec(sources=[{"kind": "synthetic", "n_docs": 2}], tokenizer={"kind": "bytes"}),
            tmp_path / "u",
        )
    assert not (tmp_path / "u").exists()


def test_refuses_to_overwrite_foreign_directory(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a scalelab data directory"):
        prepare(_spec(tokenizer={"kind": "bytes"}), tmp_path / "x")
    assert (tmp_path / "x" / "precious.txt").read_text() == "keep me"


@pytest.mark.slow
def test_builtin_corpora_full(tmp_path):
    spec = spec_from_dict(
        {
            "name": "builtin",
            "sources": [
                {"kind": "shakespeare"},
                {"kind": "bible"},
                {"kind": "wiki", "role": "eval"},
            ],
            "tokenizer": {"kind": "bpe", "vocab_size": 2048},
        }
    )
    m = prepare(spec, tmp_path / "builtin")
    assert m["splits"]["train"]["tokens"] > 2_000_000
    assert m["splits"]["wiki"]["docs"] > 9000
    names = {s["name"] for s in m["sources"]}
    assert names == {"shakespeare", "bible", "wiki"}
    assert any("CC BY-SA 4.0" in s for s in m["checklist"]["sources"])


def test_large_text_file_is_streamed_not_loaded(tmp_path):
    """A 24 MB file goes through in bounded memory: documents of <= 256 KiB, batches of <= 2 MiB."""
    import tracemalloc

    p = tmp_path / "big.txt"
    para = ("the quick brown fox jumps over the lazy dog " * 20 + "\n\n").encode()
    with open(p, "wb") as fh:
        for i in range((24 << 20) // len(para) + 1):
            fh.write(f"{i} ".encode() + para)  # distinct paragraphs
    spec = spec_from_dict(
        {
            "sources": [{"kind": "text", "path": str(p), "max_doc_bytes": 256 << 10}],
            "tokenizer": {"kind": "bytes"},
            "dedup": {"near": False},
            "encode_batch_bytes": 2 << 20,
        }
    )
    tracemalloc.start()
    try:
        m = prepare(spec, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(s["bytes"] for s in m["splits"].values()) > 24e6
    assert m["sources"][0]["read"]["docs"] >= 96
    print(f"peak {peak / 1e6:.1f} MB")
    assert peak < 20e6, f"peak traced memory {peak / 1e6:.1f} MB"


def test_literal_eot_text_is_not_a_document_boundary(tmp_path):
    p = tmp_path / "c.jsonl"
    lang = SyntheticLanguage()
    p.write_text(
        "\n".join(json.dumps({"text": lang.document(i) + " <|endoftext|> x"}) for i in range(30))
    )
    m = prepare(
        spec_from_dict(
            {
                "sources": [{"kind": "jsonl", "path": str(p)}],
                "tokenizer": {"kind": "bpe", "vocab_size": 300},
            }
        ),
        tmp_path / "o",
    )
    for s in m["splits"].values():
        arr = np.fromfile(tmp_path / "o" / s["file"], dtype=np.uint16)
        assert (arr == m["tokenizer"]["eot_id"]).sum() == s["docs"]


def test_tokenizer_file_without_eot_token(tmp_path, built):
    out, _ = built
    tj = json.loads((out / "tokenizer.json").read_text())
    with pytest.raises(InputError, match="no end-of-text token '<eos>'"):
        prepare(
            _spec(
                tokenizer={
                    "kind": "file",
                    "path": str(out / "tokenizer.json"),
                    "eot_token": "<eos>",
                }
            ),
            tmp_path / "x",
        )
    assert tj["model"]["type"] == "BPE"
    assert not (tmp_path / "x").exists()


def test_near_dedup_threshold_separates_similar_from_related():
    from scalelab.data.dedup import EXACT, KEEP, NEAR, Deduplicator
    from scalelab.data.spec import DedupSpec

    lang = SyntheticLanguage()
    a, b, c = (" ".join(lang.document(i) for i in range(j, j + 4)) for j in (0, 100, 200))
    dd = Deduplicator(DedupSpec(threshold=0.8))
    assert dd.add("ab", a + " " + b)[0] == KEEP
    assert dd.add("ac", a + " " + c)[0] == KEEP  # half shared: Jaccard ~1/3, kept
    words = (a + " " + b).split()
    for k in range(0, len(words), 150):  # Jaccard of shingle sets ~0.94
        words[k] = "zzz"
    assert dd.add("ab~", " ".join(words)) == (NEAR, "ab")
    assert dd.add("AB", (a + "  " + b).upper()) == (EXACT, "ab")
    assert dd.stats.kept == 2 and dd.stats.near == 1 and dd.stats.exact == 1


def test_ensure_prepared_reuses_same_spec(tmp_path):
    from scalelab.data.prepare import ensure_prepared
    from scalelab.data.spec import builtin_spec, synthetic_spec

    spec = synthetic_spec(n_docs=40, vocab_size=300)
    m1 = ensure_prepared(spec, tmp_path / "s")
    inode = (tmp_path / "s" / "manifest.json").stat().st_ino
    m2 = ensure_prepared(spec, tmp_path / "s")
    assert (tmp_path / "s" / "manifest.json").stat().st_ino == inode  # not rebuilt
    assert m2["data_hash"] == m1["data_hash"]
    m3 = ensure_prepared(synthetic_spec(n_docs=41, vocab_size=300), tmp_path / "s")
    assert m3["data_hash"] != m1["data_hash"]
    b = builtin_spec(max_docs=3)
    assert [s.kind for s in b.sources] == ["shakespeare", "bible", "wiki"] and b.sources[
        2
    ].role == "eval"
