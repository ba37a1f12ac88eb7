import json
import sys

import pytest

from scalelab.cli import main


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def _no_leftovers(parent, name="out"):
    assert not (parent / name).exists()
    assert not [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def test_prepare_flags_json_and_info(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "data",
                "prepare",
                "--source",
                "synthetic:60",
                "--eval-source",
                "wiki",
                "--max-docs",
                "60",
                "--tokenizer",
                "bpe",
                "--vocab-size",
                "300",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    m = json.loads(capsys.readouterr().out)
    assert set(m["splits"]) == {"train", "validation", "test", "wiki"}
    assert main(["data", "info", str(out), "--json"]) == 0
    i = json.loads(capsys.readouterr().out)
    assert i["splits"]["wiki"]["tokens"] == m["splits"]["wiki"]["tokens"]
    assert main(["data", "info", str(out)]) == 0
    assert "dedup" in capsys.readouterr().out


def test_prepare_spec_file(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'name = "t"\nout = "built"\n[[sources]]\nkind = "synthetic"\nn_docs = 40\n'
        '[tokenizer]\nkind = "bytes"\n'
    )
    assert main(["data", "prepare", str(spec)]) == 0
    assert (tmp_path / "built" / "manifest.json").is_file()
    assert "train" in capsys.readouterr().out


def test_example_spec_is_valid():
    from pathlib import Path

    from scalelab.data.spec import load_spec

    s = load_spec(Path(__file__).resolve().parents[1] / "examples" / "data_shakespeare.toml")
    assert [x.kind for x in s.sources] == ["shakespeare", "bible", "wiki"]


def test_missing_file(tmp_path, capsys):
    assert (
        main(["data", "prepare", "-s", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "out")])
        == 2
    )
    assert "nope.txt: no such file" in _one_error_line(capsys)
    _no_leftovers(tmp_path)


def test_empty_file(tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("")
    assert (
        main(["data", "prepare", "-s", str(tmp_path / "empty.txt"), "-o", str(tmp_path / "out")])
        == 2
    )
    assert "empty.txt: file is empty" in _one_error_line(capsys)
    _no_leftovers(tmp_path)


def test_undecodable_bytes_strict_and_replace(tmp_path, capsys):
    p = tmp_path / "latin1.txt"
    p.write_bytes(("Plain words here. " * 20).encode() + "café au lait".encode("latin-1") + b"\n")
    args = ["data", "prepare", "-s", str(p), "-t", "bytes", "--validation", "0", "--test", "0"]
    assert main(args + ["-o", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys)
    assert "latin1.txt: undecodable UTF-8 at byte offset 363" in line and "replace" in line
    _no_leftovers(tmp_path)
    assert main(args + ["--decode-errors", "replace", "-o", str(tmp_path / "ok")]) == 0
    captured = capsys.readouterr()
    assert "1 undecodable byte(s) replaced" in captured.err
    m = json.loads((tmp_path / "ok" / "manifest.json").read_text())
    assert m["sources"][0]["read"]["replaced_bytes"] == 1


def test_jsonl_missing_text_field(tmp_path, capsys):
    p = tmp_path / "recs.jsonl"
    p.write_text('{"text": "fine"}\n{"body": "no text here"}\n')
    assert main(["data", "prepare", "-s", str(p), "-o", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys)
    assert "recs.jsonl:2: record has no field 'text' (fields: body)" in line
    _no_leftovers(tmp_path)


def test_parquet_missing_column(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"content": ["a b c"] * 5}), p)
    assert main(["data", "prepare", "-s", str(p), "-o", str(tmp_path / "out")]) == 2
    assert "t.parquet: no column 'text' (columns: content)" in _one_error_line(capsys)
    assert (
        main(
            [
                "data",
                "prepare",
                "-s",
                str(p),
                "--text-field",
                "content",
                "-t",
                "bytes",
                "--no-near-dedup",
                "-o",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )  # 5 exact duplicates -> 1 doc
    assert "only 1 document(s) after dedup" in _one_error_line(capsys)
    _no_leftovers(tmp_path)


def test_vocab_larger_than_data_supports(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["data", "prepare", "-s", "synthetic:20", "-t", "bpe", "-V", "60000", "-o", str(out)])
        == 2
    )
    line = _one_error_line(capsys)
    assert "vocab_size 60000 is larger than the data supports" in line
    _no_leftovers(tmp_path)


def test_failed_rebuild_keeps_the_old_directory(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["data", "prepare", "-s", "synthetic:30", "-t", "bytes", "-o", str(out)]) == 0
    before = (out / "manifest.json").read_text()
    assert (
        main(["data", "prepare", "-s", "synthetic:30", "-t", "bpe", "-V", "60000", "-o", str(out)])
        == 2
    )
    assert (out / "manifest.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_bad_spec_and_options(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('[[sources]]\nkind = "synthetic"\nn_dcos = 5\n')
    assert main(["data", "prepare", str(spec), "-o", str(tmp_path / "out")]) == 2
    assert "n_dcos" in _one_error_line(capsys)
    assert main(["data", "prepare", "-o", str(tmp_path / "out")]) == 2
    assert "nothing to prepare" in _one_error_line(capsys)
    assert (
        main(
            [
                "data",
                "prepare",
                "-s",
                "synthetic",
                "-t",
                str(tmp_path / "tok.json"),
                "-o",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "tok.json: no such tokenizer file" in _one_error_line(capsys)
    assert main(["data", "info", str(tmp_path)]) == 2
    assert "not a scalelab data directory" in _one_error_line(capsys)


def test_hf_datasets_missing_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    d = tmp_path / "ds"
    d.mkdir()
    (d / "dataset_info.json").write_text("{}")
    assert main(["data", "prepare", "-s", str(d), "-o", str(tmp_path / "out")]) == 2
    assert "needs the optional package `datasets`" in _one_error_line(capsys)
    _no_leftovers(tmp_path)


def test_hf_dataset_saved_to_disk(tmp_path, capsys):
    datasets = pytest.importorskip("datasets", reason="optional package `datasets` not installed")
    from scalelab.data.synthetic import SyntheticLanguage

    lang = SyntheticLanguage()
    ds = datasets.Dataset.from_dict({"content": list(lang.documents(30))})
    ds.save_to_disk(str(tmp_path / "ds"))
    assert (
        main(
            [
                "data",
                "prepare",
                "-s",
                str(tmp_path / "ds"),
                "--text-field",
                "content",
                "-t",
                "bytes",
                "-o",
                str(tmp_path / "out"),
                "--json",
            ]
        )
        == 0
    )
    m = json.loads(capsys.readouterr().out)
    assert m["sources"][0]["kind"] == "hf_disk"
    assert sum(s["docs"] for s in m["splits"].values()) == 30


def test_single_long_text_file_and_repeated_names(tmp_path, capsys):
    from scalelab.data.synthetic import synthetic_text

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "novel.txt").write_text(synthetic_text(150, seed=1))  # ~200 kB, one file
    (tmp_path / "b" / "novel.txt").write_text(synthetic_text(10, seed=2))
    assert (
        main(
            [
                "data",
                "prepare",
                "-s",
                str(tmp_path / "a" / "novel.txt"),
                "-s",
                str(tmp_path / "b" / "novel.txt"),
                "-t",
                "bytes",
                "--max-doc-bytes",
                "16384",
                "-o",
                str(tmp_path / "out"),
                "--json",
            ]
        )
        == 0
    )
    m = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in m["sources"]] == ["novel", "novel-2"]
    assert m["sources"][0]["read"]["docs"] >= 12  # cut at paragraph breaks
    assert m["splits"]["validation"]["docs"] >= 1 and m["splits"]["test"]["docs"] >= 1


def test_hf_hub_by_name_streams_through_datasets(tmp_path, capsys, monkeypatch):
    """`hf:NAME` calls datasets.load_dataset(NAME, split=..., streaming=True); faked here (no network)."""
    import types

    from scalelab.data.synthetic import SyntheticLanguage

    calls = []

    class FakeStream:
        column_names = ["text", "meta"]

        def __iter__(self):
            lang = SyntheticLanguage()
            return iter({"text": lang.document(i), "meta": i} for i in range(25))

    def load_dataset(name, config=None, split=None, streaming=False):
        calls.append((name, config, split, streaming))
        return FakeStream()

    fake = types.ModuleType("datasets")
    fake.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", fake)
    assert (
        main(
            [
                "data",
                "prepare",
                "-s",
                "hf:someone/corpus",
                "-t",
                "bytes",
                "-o",
                str(tmp_path / "out"),
                "--json",
            ]
        )
        == 0
    )
    m = json.loads(capsys.readouterr().out)
    assert calls and calls[0] == ("someone/corpus", None, "train", True)
    assert m["sources"][0]["name"] == "someone_corpus" and m["sources"][0]["kind"] == "hf_hub"
    assert sum(s["docs"] for s in m["splits"].values()) == 25
    assert (
        main(
            [
                "data",
                "prepare",
                "-s",
                "hf:someone/corpus",
                "--text-field",
                "body",
                "-o",
                str(tmp_path / "o2"),
            ]
        )
        == 2
    )
    assert "no column 'body' (columns: text, meta)" in _one_error_line(capsys)
