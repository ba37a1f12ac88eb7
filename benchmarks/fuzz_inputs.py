"""The inputs of the fuzz (``fuzz_bench.py``): each a valid input broken by one seeded mutation.

Run tables (CSV, Parquet, JSON-lines) with bad, missing or extreme values; law JSON files; data
and ladder specs (TOML) cut short or mistyped; lm-evaluation-harness result files and their
mapping; option values. ``make_case(seed, i)`` is input ``i``, made from
``random.Random(f"{seed}:{i}")`` alone.
"""

from __future__ import annotations

import io
import json
import math
import random
from dataclasses import dataclass, field

TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37}


@dataclass
class Case:
    """One fuzz input: files to write (name -> bytes) and the command line ({dir} is replaced by
    the input's folder). ``invalid``: True when the input is invalid by construction (exit 0
    without a warning is a silent acceptance), None when it may be valid."""

    kind: str
    mutation: str
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    invalid: bool | None = True


# -- run tables ---------------------------------------------------------------------------------


def _loss(N: float, D: float) -> float:
    t = TRUTH
    return t["E"] + t["A"] / N ** t["alpha"] + t["B"] / D ** t["beta"]


def _base_rows(rng: random.Random) -> list[dict]:
    rows = []
    for i, N in enumerate((1e7, 3e7, 1e8, 3e8)):
        for j, ratio in enumerate((5, 20, 80)):
            D = N * ratio
            noise = 1 + rng.gauss(0, 0.003)
            rows.append({"run_id": f"r{i}{j}", "N": N, "D": D, "loss": _loss(N, D) * noise})
    return rows


BAD_CELLS = {
    "nan": ("nan", float("nan")),
    "inf": ("inf", float("inf")),
    "-inf": ("-inf", float("-inf")),
    "zero": ("0", 0.0),
    "negative": ("-1", -1.0),
    "text": ("abc", "abc"),
    "half-number": ("1e", "1e"),
    "empty": ("", None),
    "huge": ("1e300", 1e300),
    "tiny": ("1e-300", 1e-300),
    "absurd-1e30": ("1e30", 1e30),
}


def _frame_text(rows: list[dict], columns: list[str]) -> str:
    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join("" if r.get(c) is None else str(r.get(c)) for c in columns))
    return "\n".join(lines) + "\n"


def _table_file(rows: list[dict], columns: list[str], fmt: str, raw_cells=None) -> bytes:
    """``rows`` as a CSV, JSON-lines or Parquet file; ``raw_cells`` {(row, column): text} are put
    into the CSV as written (a Parquet or JSON-lines file takes the Python value)."""
    if fmt == "csv":
        text_rows = [dict(r) for r in rows]
        for (i, c), (text, _) in (raw_cells or {}).items():
            text_rows[i][c] = text
        return _frame_text(text_rows, columns).encode()
    value_rows = [dict(r) for r in rows]
    for (i, c), (_, value) in (raw_cells or {}).items():
        value_rows[i][c] = value
    if fmt == "jsonl":
        out = []
        for r in value_rows:
            item = {c: r.get(c) for c in columns}
            out.append(json.dumps(item))  # NaN/Infinity as Python's json writes them
        return ("\n".join(out) + "\n").encode()
    import pandas as pd

    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in value_rows], columns=columns)
    for c in frame.columns:  # a column mixing text and numbers is stored as text
        if frame[c].map(lambda v: isinstance(v, str)).any():
            frame[c] = frame[c].map(lambda v: None if v is None else str(v))
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


TABLE_COMMANDS = [
    (["fit", "{table}", "--form", "power:N", "--json"], 6),
    (["fit", "{table}", "--form", "power:C", "--json", "-o", "{dir}/law.json"], 2),
    (["backtest", "{table}", "--form", "power:N", "--json"], 2),
    (["isoflop", "{table}", "--bootstrap", "10", "--json"], 2),
    (["watch", "{table}", "--law", "chinchilla", "--run", "r21", "--json"], 1),
    (["curves", "{table}", "--json"], 1),
]


def run_table_case(rng: random.Random) -> Case:
    rows = _base_rows(rng)
    columns = ["run_id", "N", "D", "loss"]
    fmt = rng.choice(["csv", "csv", "jsonl", "parquet"])
    argv = list(rng.choices([c for c, _ in TABLE_COMMANDS], [w for _, w in TABLE_COMMANDS])[0])
    mutation = rng.choice(
        ["bad-cell"] * 6
        + ["drop-column", "c-inconsistent", "scale-column", "empty", "header-only", "garbage"]
        + ["truncated-row", "jsonl-junk-line", "valid", "valid-extra-column", "duplicate-row"]
    )
    invalid: bool | None = True
    raw = None
    data: bytes
    if mutation == "bad-cell":
        name = rng.choice(sorted(BAD_CELLS))
        column = rng.choice(["N", "D", "loss"])
        row = rng.randrange(len(rows))
        raw = {(row, column): BAD_CELLS[name]}
        if name == "absurd-1e30" and column == "loss":
            pass  # a loss of 1e30 nats/token: invalid
        elif name == "absurd-1e30" and column == "D":
            pass  # 1e30 tokens: invalid
        mutation = f"bad-cell:{column}={name}"
        data = _table_file(rows, columns, fmt, raw)
    elif mutation == "drop-column":
        drop = rng.choice(["N", "loss", "D"])
        columns = [c for c in columns if c != drop]
        mutation = f"drop-column:{drop}"
        data = _table_file(rows, columns, fmt)
    elif mutation == "c-inconsistent":
        factor = rng.choice([1e6, 1e-6, 1e12])
        for r in rows:
            r["C"] = 6 * r["N"] * r["D"] * factor
        columns = columns + ["C"]
        mutation = f"c-inconsistent:x{factor:g}"
        data = _table_file(rows, columns, fmt)
    elif mutation == "scale-column":
        column, factor = rng.choice([("N", 1e20), ("N", 1e-12), ("D", 1e-15), ("loss", 1e12)])
        for r in rows:
            r[column] *= factor
        mutation = f"scale-column:{column}x{factor:g}"
        data = _table_file(rows, columns, fmt)
    elif mutation == "empty":
        data = b""
    elif mutation == "header-only":
        data = (",".join(columns) + "\n").encode() if fmt == "csv" else b""
    elif mutation == "garbage":
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    elif mutation == "truncated-row":
        fmt = "csv"
        text = _frame_text(rows, columns)
        last = text.rstrip("\n").rsplit("\n", 1)
        cut = last[1][: last[1].rfind(",")]  # the last row loses at least its loss
        data = (last[0] + "\n" + cut[: rng.randrange(len(cut) // 2, len(cut) + 1)]).encode()
    elif mutation == "jsonl-junk-line":
        fmt = "jsonl"
        lines = _table_file(rows, columns, "jsonl").decode().splitlines()
        lines[rng.randrange(len(lines))] = rng.choice(["42", "[1, 2]", '"x"', "null", "{", "{}"])
        data = ("\n".join(lines) + "\n").encode()
    elif mutation == "duplicate-row":
        rows.append(dict(rows[rng.randrange(len(rows))]))
        data = _table_file(rows, columns, fmt)
    else:  # valid controls
        if mutation == "valid-extra-column":
            for r in rows:
                r["note"] = "x"
            columns = columns + ["note"]
        rng.shuffle(rows)
        data = _table_file(rows, columns, fmt)
        invalid = False
    table = f"runs.{fmt}"
    if not invalid and argv[0] in ("isoflop", "curves"):
        argv = ["fit", "{table}", "--form", "power:N", "--json"]  # a control that can succeed
    argv = [a.replace("{table}", "{dir}/" + table) for a in argv]
    return Case("table", mutation, argv, {table: data}, invalid)


# -- law files ----------------------------------------------------------------------------------


def _law_dict(rng: random.Random) -> dict:
    from scalelab.laws import Law
    from scalelab.laws.forms import get

    law = Law("chinchilla", dict(TRUTH))
    form = get("chinchilla")
    theta = [p.from_natural(TRUTH[p.natural]) for p in form.params]
    law.samples = [[t + rng.gauss(0, 0.01) for t in theta] for _ in range(20)]
    d = law.to_dict()
    d["samples"] = [list(map(float, s)) for s in law.samples]
    return d


def law_case(rng: random.Random) -> Case:
    d = _law_dict(rng)
    mutation = rng.choice(
        ["param-value", "param-missing", "param-unknown", "form", "samples-value", "samples-width"]
        + ["samples-not-list", "truncated", "not-object", "ci", "derived", "valid"]
    )
    invalid: bool | None = True
    text = None
    if mutation == "param-value":
        name = rng.choice(sorted(TRUTH))
        value = rng.choice([1e308, -1.0, 0.0, "x", None, [1, 2], 1e-300, True])
        d["params"][name] = value
        mutation = f"param-value:{name}={value!r}"
        if name in ("alpha", "beta") and value == 0.0 and value is not True:
            invalid = None  # an exponent of 0 is inside the form's bounds: a law, if a poor one
    elif mutation == "param-missing":
        d["params"].pop(rng.choice(sorted(TRUTH)))
    elif mutation == "param-unknown":
        d["params"]["gamma"] = 0.5
    elif mutation == "form":
        d["form"] = rng.choice(["nope", "", 3, None, "chinchilla "])
    elif mutation == "samples-value":
        value = rng.choice([1e308, -1e308, 1e30, 50.0, -50.0])
        d["samples"] = [[value] * 5 for _ in d["samples"]]
        mutation = f"samples-value:{value:g}"
    elif mutation == "samples-width":
        d["samples"] = [s[:3] for s in d["samples"]]
    elif mutation == "samples-not-list":
        d["samples"] = rng.choice(["x", 3, {"a": 1}])
    elif mutation == "truncated":
        full = json.dumps(d)
        text = full[: rng.randrange(1, len(full) - 1)]
    elif mutation == "not-object":
        text = rng.choice(["[]", "42", '"law"', "null"])
    elif mutation == "ci":
        d["ci"] = rng.choice([{"E": [1]}, {"E": "x"}, "x"])
    elif mutation == "derived":
        d["derived"] = rng.choice([{"N_opt": "x"}, [1, 2]])
    else:
        invalid = False
    if text is None:
        text = json.dumps(d)
    argv = rng.choice(
        [
            ["predict", "--law", "{dir}/law.json", "--N", "1B", "--D", "20B", "--json"],
            ["optimal", "--law", "{dir}/law.json", "--flops", "1e23", "--json"],
        ]
    )
    return Case("law", mutation, argv, {"law.json": text.encode()}, invalid)


# -- TOML specs ---------------------------------------------------------------------------------

DATA_SPEC = """name = "fuzz"
seed = 0

[[sources]]
kind = "synthetic"
n_docs = 40

[split]
validation = 0.1
test = 0.1

[dedup]
exact = true
near = false

[tokenizer]
kind = "bytes"
"""

LADDER_SPEC = """name = "fuzz"
out_dir = "{dir}/ladder"
threads = 1

[data]
preset = "markov"
markov_tokens = 200000

[model]
n_ctx = 16
vocab_size = 64

[train]
schedule = "constant"
warmup_frac = 0.02

[grid]
sizes = [25000, 50000]
tokens_per_param = [10, 40]
"""

TOML_TYPOS = [
    ("n_docs = 40", 'n_docs = "many"'),
    ("n_docs = 40", "n_docs = -5"),
    ("validation = 0.1", "validation = 2.0"),
    ('kind = "bytes"', 'kind = "unicorn"'),
    ("exact = true", 'exact = "yes"'),
    ("seed = 0", "seed = -1"),
    ('kind = "synthetic"', 'kind = "synthetic"\ncolour = "blue"'),
    ("[split]", "[splits]"),
    ("markov_tokens = 200000", "markov_tokens = -1"),
    ("n_ctx = 16", "n_ctx = 0"),
    ("sizes = [25000, 50000]", 'sizes = ["big"]'),
    ("tokens_per_param = [10, 40]", "tokens_per_param = [10, 1e300]"),
    ('schedule = "constant"', 'schedule = "sometimes"'),
    ("vocab_size = 64", "vocab_size = 3.5"),
]


def toml_case(rng: random.Random) -> Case:
    which = rng.choice(["data", "ladder"])
    text = DATA_SPEC if which == "data" else LADDER_SPEC
    mutation = rng.choice(["cut-after-header", "cut-mid-line", "cut-anywhere", "typo", "valid"])
    invalid: bool | None = True
    if mutation == "cut-after-header":
        lines = text.splitlines(keepends=True)
        headers = [i for i, ln in enumerate(lines) if ln.startswith("[") and i > 0]
        i = rng.choice(headers)
        text = "".join(lines[: i + 1])
        if lines[i].startswith("[["):
            invalid = True  # a [[sources]] without its kind
        mutation = f"cut-after-header:{lines[i].strip()}"
    elif mutation == "cut-mid-line":
        lines = text.splitlines(keepends=True)
        i = rng.randrange(1, len(lines))
        while not lines[i].strip():
            i = rng.randrange(1, len(lines))
        text = "".join(lines[:i]) + lines[i][: rng.randrange(1, max(2, len(lines[i]) - 1))]
        mutation = "cut-mid-line"
    elif mutation == "cut-anywhere":
        pos = rng.randrange(1, len(text) - 1)
        text = text[:pos]
        invalid = None if text.endswith("\n") else True  # cut after a whole line: may be valid
    elif mutation == "typo":
        options = [t for t in TOML_TYPOS if t[0] in text]
        old, new = rng.choice(options)
        text = text.replace(old, new, 1)
        mutation = f"typo:{new.splitlines()[-1]}"
    else:
        invalid = False
    if which == "data":
        argv = ["data", "prepare", "{dir}/spec.toml", "-o", "{dir}/prepared", "--json"]
    else:
        argv = ["ladder", "plan", "{dir}/spec.toml", "--json"]
    return Case(f"toml-{which}", mutation, argv, {"spec.toml": text.encode()}, invalid)


# -- lm-evaluation-harness results --------------------------------------------------------------


def lm_eval_case(rng: random.Random) -> Case:
    runs = [
        (f"m{i}{j}", N, N * r)
        for i, N in enumerate((1e7, 4e7, 1.6e8))
        for j, r in enumerate((10, 40))
    ]
    files: dict[str, bytes] = {}
    docs = {}
    for name, N, D in runs:
        loss = _loss(N, D)
        acc = 0.25 + 0.6 / (1 + math.exp(4 * (loss - 3.2)))
        docs[name] = {
            "results": {
                "arc_easy": {"acc,none": acc, "acc_stderr,none": 0.01},
                "lambada_openai": {"perplexity,none": math.exp(loss), "acc,none": acc / 2},
            },
            "config": {"model": "hf"},
        }
    mapping = "file,run_id,N,D\n" + "".join(f"{n}.json,{n},{N:g},{D:g}\n" for n, N, D in runs)
    mutation = rng.choice(
        ["acc-range", "acc-text", "acc-nan", "no-results", "results-list", "truncated-json"]
        + ["map-missing-row", "map-bad-N", "map-missing-column", "valid"]
    )
    invalid = True
    victim = rng.choice(runs)[0]
    if mutation == "acc-range":
        docs[victim]["results"]["lambada_openai"]["acc,none"] = rng.choice([1.5, -0.2, 1e300])
    elif mutation == "acc-text":
        docs[victim]["results"]["lambada_openai"]["acc,none"] = "high"
    elif mutation == "acc-nan":
        docs[victim]["results"]["lambada_openai"]["acc,none"] = float("nan")
    elif mutation == "no-results":
        docs[victim].pop("results")
    elif mutation == "results-list":
        docs[victim]["results"] = [1, 2]
    elif mutation == "map-missing-row":
        mapping = "\n".join(ln for ln in mapping.splitlines() if not ln.startswith(victim)) + "\n"
    elif mutation == "map-bad-N":
        bad = rng.choice(["-1", "x", "nan", "1e300", ""])
        lines = mapping.splitlines()
        for k, ln in enumerate(lines):
            if ln.startswith(f"{victim}.json,"):
                cells = ln.split(",")
                cells[2] = bad
                lines[k] = ",".join(cells)
        mapping = "\n".join(lines) + "\n"
        mutation = f"map-bad-N:{bad!r}"
    elif mutation == "truncated-json":
        pass  # cut below, once the files are text
    elif mutation == "map-missing-column":
        mapping = "\n".join(",".join(ln.split(",")[:3]) for ln in mapping.splitlines()) + "\n"
    else:
        invalid = False
    texts = {n: json.dumps(d) for n, d in docs.items()}
    if mutation == "truncated-json":
        full = texts[victim]
        texts[victim] = full[: rng.randrange(1, len(full) - 1)]
    for n, t in texts.items():
        files[f"results/{n}.json"] = t.encode()
    files["map.csv"] = mapping.encode()
    argv = ["tasks", "predict", "{dir}/results", "--lm-eval-map", "{dir}/map.csv"]
    argv += ["--task", "lambada_openai", "--N", "1B", "--D", "20B", "--json"]
    return Case("lm-eval", mutation, argv, files, invalid)


# -- option values ------------------------------------------------------------------------------

BAD_COUNTS = ["abc", "-1", "0", "1e400", "nan", "inf", "7Q", "", "1e", "--", "1,0,0", "١٢"]
OPTION_CASES = [
    (["predict", "--law", "chinchilla-2022", "--D", "20B", "--N"], BAD_COUNTS),
    (["predict", "--law", "chinchilla-2022", "--N", "1B", "--D"], BAD_COUNTS),
    (["optimal", "--law", "chinchilla-2022", "--flops"], BAD_COUNTS),
    (["fit", "--example", "gadre2024", "--form", "power:N", "--budget"], BAD_COUNTS),
    (
        ["fit", "--example", "gadre2024", "--form", "power:N", "--level"],
        ["2", "0", "-1", "nan", "x"],
    ),
    (["fit", "--example", "gadre2024", "--form", "power:N", "--delta"], ["0", "-1", "nan", "x"]),
    (["fit", "--example", "gadre2024", "--form"], ["nope", "", "power:Q", "chinchilla:x"]),
    (["fit", "--example"], ["nope", "", "gadre"]),
    (["fit", "--example", "gadre2024", "--form", "power:N", "--where"], ["x", "=1", "dataset"]),
    (["fit", "--example", "gadre2024", "--form", "power:N", "--column"], ["N", "=x", "Q=params"]),
    (
        ["plan", "--law", "chinchilla", "--device", "H100", "--gpus", "8", "--days"],
        ["-3d", "30x", "nan", "0", "1e400d"],
    ),
    (["plan", "--law", "chinchilla", "--device", "H100", "--days", "30", "--gpus"], BAD_COUNTS),
    (
        ["plan", "--law", "chinchilla", "--device", "H100", "--gpus", "8", "--days", "30", "--mfu"],
        ["2", "0", "-1", "nan"],
    ),
    (
        ["plan", "--law", "chinchilla", "--gpus", "8", "--days", "30", "--device"],
        ["H1000", "", "cpu"],
    ),
    (["isoflop", "--example", "porian2024", "--bootstrap"], ["-1", "x", "1e3"]),
    (["isoflop", "--example", "porian2024", "--rtol"], ["nan", "-1", "2"]),
    (
        ["backtest", "--example", "gadre2024", "--form", "power:N", "--ratio"],
        ["0", "-1", "nan", "0.5"],
    ),
    (["published", "--json", "--law"], ["nope"]),
]


def option_case(rng: random.Random) -> Case:
    prefix, values = rng.choice(OPTION_CASES)
    value = rng.choice(values)
    argv = list(prefix) + [value]
    if argv[0] != "published":
        argv.append("--json")
    return Case("option", f"{' '.join(prefix[:1] + prefix[-1:])}={value!r}", argv, {}, True)


KINDS = [
    (run_table_case, 40),
    (law_case, 20),
    (toml_case, 15),
    (lm_eval_case, 10),
    (option_case, 15),
]


def make_case(seed: int, index: int) -> Case:
    rng = random.Random(f"{seed}:{index}")
    maker = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    return maker(rng)
