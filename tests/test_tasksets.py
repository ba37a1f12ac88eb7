"""Task sets: generated deterministically from held-out documents only; task files validated."""

import csv
import hashlib
import json

import numpy as np
import pytest

from scalelab.cli import main
from scalelab.data.taskfile import manifest_path, read_task_file, write_task_set
from scalelab.data.tasksets import make_task_set
from scalelab.errors import InputError


@pytest.fixture
def corpus(synthetic_docs):
    return synthetic_docs  # prepared once per session (conftest)


def _texts(corpus, splits):
    """Whitespace-normalised text of the documents of ``splits`` (bytes tokenizer)."""
    with open(corpus / "documents.tsv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["split"] in splits]
    out = []
    for r in rows:
        arr = np.memmap(corpus / f"{r['split']}.bin", dtype=np.uint16, mode="r")
        off, n = int(r["token_offset"]), int(r["tokens"])
        out.append(" ".join(bytes(arr[off : off + n - 1].astype(np.uint8)).decode().split()))
    return out


@pytest.mark.parametrize("kind", ["cloze", "mc"])
def test_generation_is_deterministic_and_seeded(corpus, tmp_path, kind):
    a = make_task_set(corpus, kind, examples=60, seed=0)
    b = make_task_set(corpus, kind, examples=60, seed=0)
    c = make_task_set(corpus, kind, examples=60, seed=1)
    assert a.to_jsonl() == b.to_jsonl()
    assert a.to_jsonl() != c.to_jsonl()
    m1 = write_task_set(a, tmp_path / "one" / f"{kind}.jsonl")
    m2 = write_task_set(b, tmp_path / "two" / f"{kind}.jsonl")
    data = (tmp_path / "one" / f"{kind}.jsonl").read_bytes()
    assert m1["sha256"] == m2["sha256"] == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "one" / f"{kind}.manifest.json").read_bytes() == (
        tmp_path / "two" / f"{kind}.manifest.json"
    ).read_bytes()
    assert m1["seed"] == 0 and m1["counts"]["examples"] == len(a.examples) == 60
    assert (
        m1["source"]["data_hash"] == json.loads((corpus / "manifest.json").read_text())["data_hash"]
    )
    back = read_task_file(tmp_path / "one" / f"{kind}.jsonl")
    assert back.kind == kind and back.examples == a.examples


@pytest.mark.parametrize("kind", ["cloze", "mc"])
def test_passages_come_from_heldout_documents_never_training(corpus, kind):
    task = make_task_set(corpus, kind, examples=80, seed=0)
    train = "\n".join(_texts(corpus, {"train"}))
    heldout = "\n".join(_texts(corpus, {"validation", "test"}))
    for ex in task.examples:
        answer = ex["target"] if kind == "cloze" else ex["choices"][ex["label"]]
        passage = ex["context"] + answer
        assert passage in heldout
        assert passage not in train
        assert ex["context"][-60:] not in train  # not even the end of the context


def test_cloze_buckets_order_answers_by_frequency(corpus):
    task = make_task_set(corpus, "cloze", examples=60, seed=0)
    words = " ".join(_texts(corpus, {"validation", "test"})).lower().split()
    freq = {w: words.count(w) for w in {ex["target"].strip().lower() for ex in task.examples}}
    by = {}
    for ex in task.examples:
        assert ex["target"].startswith(" ") and ex["target"].strip().isalpha()
        assert not ex["context"].endswith(" ")
        by.setdefault(ex["bucket"], []).append(freq[ex["target"].strip().lower()])
    assert sorted(by) == ["freq-q1", "freq-q2", "freq-q3", "freq-q4"]
    assert {len(v) for v in by.values()} == {15}
    assert min(by["freq-q1"]) >= max(by["freq-q4"])


def test_mc_examples_have_the_true_next_sentence_and_distinct_distractors(corpus):
    task = make_task_set(corpus, "mc", examples=40, seed=0)
    heldout = "\n".join(_texts(corpus, {"validation", "test"}))
    labels = set()
    for ex in task.examples:
        assert len(ex["choices"]) == 4 and len(set(ex["choices"])) == 4
        labels.add(ex["label"])
        assert ex["context"] + ex["choices"][ex["label"]] in heldout
        wrong = [c for i, c in enumerate(ex["choices"]) if i != ex["label"]]
        assert all(ex["context"] + w not in heldout for w in wrong)
    assert labels == {0, 1, 2, 3}
    assert {ex["bucket"] for ex in task.examples} == {f"surprisal-q{i}" for i in range(1, 5)}


def test_a_changed_task_file_no_longer_matches_its_manifest(corpus, tmp_path):
    path = tmp_path / "cloze.jsonl"
    write_task_set(make_task_set(corpus, "cloze", examples=10), path)
    path.write_text(path.read_text().replace('"target": " ', '"target": " x'))
    with pytest.raises(InputError, match="does not match its manifest"):
        read_task_file(path)
    manifest_path(path).unlink()
    assert read_task_file(path).examples[0]["target"].startswith(" x")


def test_make_through_the_cli(corpus, tmp_path, capsys):
    out = tmp_path / "mc.jsonl"
    code = main(["tasks", "make", "--corpus", str(corpus), "--kind", "mc", "-o", str(out),
                 "-n", "12", "--json"])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"]["examples"] == 12
    assert printed["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert main(["tasks", "make", "--corpus", str(tmp_path), "--kind", "mc", "-o", "x"]) == 2
    assert "not a scalelab data directory" in capsys.readouterr().err
    assert main(["tasks", "make", "--corpus", str(corpus), "--kind", "qa", "-o", "x"]) == 2


BAD_LINES = [
    ('{"context": "a b", "target": " c"', "1: not valid JSON"),
    ('{"target": " c"}', "2: context: missing"),
    ('{"context": "a", "target": "  "}', "3: target: empty"),
    ('{"context": "a", "choices": [" x", " y"], "label": 2}', "4: label: 2 out of range"),
    ('{"context": "a", "choices": [" x"], "label": 0}', "5: choices: 1 choice(s)"),
    ('{"context": "a", "target": " c", "lable": 1}', "6: lable: unknown field"),
    ('{"context": "a", "choices": [" x", " y"], "label": true}', "7: label: expected an integer"),
    ("[1, 2]", "8: expected a JSON object"),
]


def test_bad_task_file_one_line_per_problem():
    lines = [text for text, _ in BAD_LINES]
    with pytest.raises(InputError) as info:
        from scalelab.data.taskfile import parse_task_lines

        parse_task_lines(lines, "bad.jsonl", "bad")
    problems = info.value.problems
    for _, expected in BAD_LINES:
        assert sum(f"bad.jsonl:{expected}" in p for p in problems) == 1, expected
    # lines 4, 5 and 7 are multiple-choice examples in a file that began as cloze
    assert sum("one kind per file" in p for p in problems) == 3
    assert len(problems) == len(BAD_LINES) + 3


def test_empty_and_missing_task_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(InputError, match="no examples"):
        read_task_file(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="no such task file"):
        read_task_file(tmp_path / "nope.jsonl")
