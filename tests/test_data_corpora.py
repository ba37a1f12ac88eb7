import json

import pytest

from scalelab.data.corpora import SourceStats, iter_source, shakespeare_files
from scalelab.data.spec import SourceSpec
from scalelab.errors import InputError


def take(spec, errors="strict"):
    stats = SourceStats()
    return list(iter_source(spec, errors, stats)), stats


def test_shakespeare_skips_folio_duplicates():
    files, version = shakespeare_files()
    assert version == "0.6"
    names = {f.stem for f in files}
    assert "hamlet_gut" in names and "hamlet_gut_f" not in names
    assert not any(n.endswith("_f") for n in names)
    assert 35 <= len(files) <= 45
    docs, stats = take(SourceSpec(kind="shakespeare", max_docs=2))
    assert len(docs) == 2 and stats.files[0]["sha256"]
    assert "Shakespeare" in docs[0].text[:200]


def test_bible_chapters_without_footnotes():
    docs, _ = take(SourceSpec(kind="bible", max_docs=3))
    assert [d.key for d in docs] == ["Genesis 1", "Genesis 2", "Genesis 3"]
    assert docs[0].text.startswith("Genesis 1\n\nIn the beginning God created the heavens")
    assert all("{" not in d.text and "}" not in d.text for d in docs)


def test_wiki_extracts_read_from_package_data():
    docs, stats = take(SourceSpec(kind="wiki", role="eval", max_docs=5))
    assert len(docs) == 5 and all(len(d.text) > 20 for d in docs)
    assert stats.files[0]["path"].endswith("summaries_en-us.json")


def test_text_folder_and_long_files_are_cut_at_paragraphs(tmp_path):
    (tmp_path / "a.txt").write_text("first document\n")
    (tmp_path / "sub").mkdir()
    para = "word " * 100 + "\n\n"
    (tmp_path / "sub" / "b.txt").write_text(para * 60)  # ~30 kB
    docs, stats = take(SourceSpec(kind="text", path=str(tmp_path), max_doc_bytes=8192))
    assert docs[0].key == "a.txt" and docs[0].text == "first document"
    parts = [d for d in docs if d.key.startswith("sub/b.txt")]
    assert len(parts) >= 4 and all(len(d.text) <= 8192 for d in parts)
    assert sum(d.text.count("word") for d in parts) == 6000  # nothing lost at the cuts
    assert len(stats.files) == 2


def test_jsonl_and_parquet_fields(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(json.dumps({"body": f"doc {i}", "id": i}) for i in range(4)) + "\n")
    docs, _ = take(SourceSpec(kind="jsonl", path=str(p), text_field="body"))
    assert [d.text for d in docs] == [f"doc {i}" for i in range(4)]
    with pytest.raises(InputError, match=r"c.jsonl:1: record has no field 'text'"):
        take(SourceSpec(kind="jsonl", path=str(p)))

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    q = tmp_path / "d.parquet"
    pq.write_table(pa.table({"content": ["x y z", None, "last"]}), q)
    docs, _ = take(SourceSpec(kind="parquet", path=str(q), text_field="content"))
    assert [d.text for d in docs] == ["x y z", "last"]
    with pytest.raises(InputError, match="no column 'text'"):
        take(SourceSpec(kind="parquet", path=str(q)))


def test_undecodable_bytes_strict_reports_offset_replace_counts(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes("héllo wörld ".encode() * 100 + b"\xff\xfe tail")
    with pytest.raises(InputError, match=r"bad.txt: undecodable UTF-8 at byte offset 1400 "):
        take(SourceSpec(kind="text", path=str(p)))
    docs, stats = take(SourceSpec(kind="text", path=str(p)), errors="replace")
    assert stats.replaced == 2 and docs[0].text.endswith("\ufffd\ufffd tail")


def test_offset_is_exact_across_read_blocks(tmp_path):
    p = tmp_path / "big.txt"
    good = ("ab\n" * 400_000).encode()  # 1.2 MB: the bad byte sits in the second 1 MiB block
    p.write_bytes(good + "é".encode()[:1] + b"x")
    with pytest.raises(InputError, match=f"byte offset {len(good)} "):
        take(SourceSpec(kind="text", path=str(p)))


def test_limits():
    docs, stats = take(SourceSpec(kind="synthetic", n_docs=50, max_bytes=5000))
    assert 0 < stats.bytes <= 5000 and len(docs) < 50


def test_json_array_and_gzip(tmp_path):
    import gzip

    p = tmp_path / "arr.json"
    p.write_text(json.dumps([{"text": "one"}, {"text": "two"}]))
    docs, _ = take(SourceSpec(kind="jsonl", path=str(p)))
    assert [(d.key, d.text) for d in docs] == [("arr.json:0", "one"), ("arr.json:1", "two")]
    g = tmp_path / "lines.jsonl.gz"
    with gzip.open(g, "wt") as fh:
        fh.write('{"text": "zipped"}\n{"other": 1}\n')
    with pytest.raises(InputError, match=r"lines.jsonl.gz:2: record has no field 'text'"):
        take(SourceSpec(kind="jsonl", path=str(g)))
    t = tmp_path / "plain.txt.gz"
    with gzip.open(t, "wt") as fh:
        fh.write("gzipped text\n")
    docs, _ = take(SourceSpec(kind="text", path=str(t)))
    assert docs[0].text == "gzipped text"
