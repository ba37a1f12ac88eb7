"""Bad input to training, ladders and data: one clear error line naming the file (or option) and
the key, exit status 2, no traceback, nothing written, nothing that runs for ever.

The property-based tests (Hypothesis) are in test_input_fuzz.py.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from ladder_helpers import cli, ladder_dict, write_spec
from train_helpers import TINY, merge, write_config

from scalelab.cli import main
from scalelab.cli.common import app
from scalelab.errors import InputError
from scalelab.ladder import plan_ladder, spec_from_dict
from scalelab.ladder.plan import MAX_JOBS, MAX_SHAPE_SEARCHES
from scalelab.model.shapes import largest_n, shape_for
from scalelab.schema import SEED_LIMIT
from scalelab.train.config import config_from_dict
from scalelab.train.plan import check_run, plan_run

REPO = Path(__file__).resolve().parents[1]


def run_main(capsys, *args: str) -> tuple[int, list[str]]:
    """The CLI in this process: exit status and the stderr lines."""
    code = main(list(args))
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def one_error(capsys, *args: str, names: tuple[str, ...]) -> str:
    """Exit status 2 and one ``error:`` line that mentions every one of ``names``."""
    code, lines = run_main(capsys, *args)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def grid_only(grid: dict, **sections) -> dict:
    """A tiny ladder with this ``[grid]`` (none of the default shapes)."""
    raw = ladder_dict(**sections)
    raw["grid"] = grid
    return raw


def tiny_config(tmp_path: Path, **sections) -> Path:
    cfg = merge(TINY, out_dir=str(tmp_path / "run"), **sections)
    return write_config(tmp_path / "run.toml", cfg)


# ---- 1. out_dir that is a file, or lies under one ----------------------------------------------


@pytest.mark.parametrize("under", ["", "sub", "sub/deeper"])
def test_train_out_dir_a_file_or_under_one(tmp_path, capsys, under):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    out = blocker / under if under else blocker
    config = write_config(tmp_path / "run.toml", merge(TINY, out_dir=str(out)))
    line = one_error(capsys, "train", str(config), "--quiet", names=(str(config), "out_dir"))
    assert "is a file, not a folder" in line
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "run.toml"]


def test_train_out_option_a_file(tmp_path, capsys):
    config = tiny_config(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    one_error(capsys, "train", str(config), "--out", str(blocker / "run"), names=("--out",))
    assert not (tmp_path / "run").exists()


def test_check_run_refuses_out_dir_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    cfg = config_from_dict(merge(TINY, out_dir=str(tmp_path / "f" / "run")), "c.toml")
    with pytest.raises(InputError, match=r"c\.toml: out_dir: .* is a file, not a folder"):
        check_run(cfg, source="c.toml")


def test_ladder_out_dir_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    spec = write_spec(tmp_path / "l.toml", ladder_dict(out_dir=str(tmp_path / "f" / "lad")))
    one_error(capsys, "ladder", "run", str(spec), names=(str(spec), "out_dir", "is a file"))
    one_error(capsys, "ladder", "run", str(spec), "--out", str(tmp_path / "f"), names=("--out",))


# ---- 2. token files that are not token files ---------------------------------------------------


def _bad_token_files(folder: Path) -> dict[str, Path]:
    odd = folder / "odd.bin"
    odd.write_bytes(b"\x01\x00" * 100 + b"\x07")  # 201 bytes: not whole uint16 tokens
    empty = folder / "empty.bin"
    empty.write_bytes(b"")
    pickled = folder / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    raw_pickle = folder / "raw.npy"
    raw_pickle.write_bytes(pickle.dumps(list(range(100))))
    garbage = folder / "garbage.npy"
    garbage.write_bytes(b"this is not an npy file at all" * 10)
    floats = folder / "floats.npy"
    np.save(floats, np.linspace(0, 1, 200))
    return {
        "odd": odd,
        "empty": empty,
        "pickled": pickled,
        "raw_pickle": raw_pickle,
        "garbage": garbage,
        "floats": floats,
    }


@pytest.mark.parametrize("kind", ["odd", "empty", "pickled", "raw_pickle", "garbage", "floats"])
@pytest.mark.parametrize("role", ["train", "eval"])
def test_bad_token_file_is_one_line_naming_it(tmp_path, capsys, kind, role):
    files = _bad_token_files(tmp_path)
    good = tmp_path / "good.npy"
    np.save(good, np.arange(5000, dtype=np.uint16) % 64)
    data = (
        {"train": str(files[kind]), "eval": {"val": str(good)}}
        if role == "train"
        else {"train": str(good), "eval": {"val": str(files[kind])}}
    )
    config = tiny_config(tmp_path, data=data)
    key = "[data] train" if role == "train" else "[data] eval.val"
    one_error(capsys, "train", str(config), "--quiet", names=(str(config), key, files[kind].name))
    assert not (tmp_path / "run").exists()


# ---- 3. seeds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [2**70, 2**63, -1])
def test_seed_out_of_range(seed):
    with pytest.raises(InputError) as exc:
        config_from_dict(merge(TINY, seed=seed), "c.toml")
    assert exc.value.problems == [f"c.toml: seed: expected a seed 0 <= seed < 2**63, got {seed}"]
    with pytest.raises(InputError, match=r"l\.toml: \[grid\] seeds.*0 <= seed < 2\*\*63"):
        spec_from_dict(ladder_dict(grid={**ladder_dict()["grid"], "seeds": [0, seed]}), "l.toml")


def test_seed_limit_is_what_torch_and_numpy_accept():
    top = SEED_LIMIT - 1
    torch.Generator().manual_seed(top)
    np.random.default_rng([top, 1, 2])
    cfg = config_from_dict(merge(TINY, seed=top), "c.toml")
    assert cfg.seed == top


def test_seed_2_70_through_the_cli(tmp_path, capsys):
    config = tiny_config(tmp_path, seed=2**70)
    one_error(capsys, "train", str(config), names=(str(config), "seed", "2**63"))


# ---- 4. no hangs: bounded shape search, bounded steps, bounded plans ---------------------------


def test_shape_search_is_bounded_and_names_the_largest():
    with pytest.raises(ValueError, match=r"N = 1e\+16 is above the largest .* about 9\.62e\+11"):
        shape_for(1e16)
    assert 9e11 < largest_n() < 1e12


def test_ladder_size_1e16_dry_run_returns(tmp_path):
    spec = write_spec(
        tmp_path / "l.toml",
        grid_only({"sizes": [1e16], "tokens_per_param": [20]}, out_dir=str(tmp_path / "o")),
    )
    r = cli("ladder", "run", str(spec), "--dry-run", timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("error:") == 1 and "Traceback" not in r.stderr
    assert "[grid] sizes" in r.stderr and "1e+16" in r.stderr and "9.62e+11" in r.stderr


@pytest.mark.parametrize("tpp", [1e300, 1e13])
def test_ladder_budget_beyond_1e12_steps(tpp):
    raw = grid_only({"sizes": [2.5e4], "tokens_per_param": [tpp]})
    with pytest.raises(InputError) as exc:
        plan_ladder(spec_from_dict(raw, "l.toml"), "l.toml")
    (line,) = exc.value.problems
    assert line.startswith("l.toml: ") and "run N" in line and "1e+12 steps" in line


@pytest.mark.parametrize(
    "train",
    [
        {"tokens_per_param": 1e300, "batch_tokens": 256},  # D overflows to inf
        {"tokens": 10**30, "batch_tokens": 256},
        {"tokens_per_param": 1e16},  # the batch from the rule
    ],
)
def test_run_beyond_1e12_steps(train):
    raw = {**TINY, "train": {"lr": 3e-3, **train}}
    with pytest.raises(InputError) as exc:
        plan_run(config_from_dict(raw, "c.toml"), "c.toml")
    (line,) = exc.value.problems
    assert line.startswith("c.toml: run tiny: ") and "more than 1e+12 steps" in line


def test_branch_per_param_overflow_is_an_error():
    raw = merge(
        TINY, train={**TINY["train"], "schedule": "wsd", "branch_tokens_per_param": [1e300]}
    )
    with pytest.raises(InputError, match=r"c\.toml: \[train\] branch_tokens_per_param"):
        plan_run(config_from_dict(raw, "c.toml"), "c.toml")


@pytest.mark.parametrize(
    "grid, what",
    [
        ({"sizes": [3e4 * 1.2**i for i in range(MAX_SHAPE_SEARCHES + 1)]}, "[grid] sizes"),
        ({"isoflop": [1e12], "isoflop_points": 10**9}, "isoflop_points"),
        ({"sizes": [3e4, 1e5], "seeds": list(range(MAX_JOBS))}, f"the {MAX_JOBS}"),
        ({"sizes": [3e4], "seeds": list(range(10**5))}, "far more than"),
    ],
)
def test_plans_too_big_to_compute_are_refused(grid, what):
    budgets = {} if "isoflop" in grid else {"tokens_per_param": [20]}
    raw = grid_only({**budgets, **grid})
    with pytest.raises(InputError) as exc:
        plan_ladder(spec_from_dict(raw, "l.toml"), "l.toml")
    (line,) = exc.value.problems
    assert line.startswith("l.toml: ") and what in line


def test_plan_guards_return_quickly_through_the_cli(tmp_path):
    """The refused and the largest allowed plans both come back (a generous timeout is the bound:
    the point is that they end, not how fast)."""
    big = grid_only(
        {"sizes": [3e4 * 1.5**i for i in range(40)], "tokens_per_param": [20]},
        out_dir=str(tmp_path / "o"),
    )
    r = cli("ladder", "run", str(write_spec(tmp_path / "big.toml", big)), "--dry-run", timeout=120)
    assert r.returncode == 2 and r.stderr.count("error:") == 1, r.stderr
    sizes = [3e4 * 1.9**i for i in range(MAX_SHAPE_SEARCHES)]  # up to ~1e13: past the largest
    allowed = grid_only(
        {"sizes": [n for n in sizes if n < 5e11], "tokens_per_param": [20], "seeds": [0, 1]},
        hparams={"min_steps": 10},
        out_dir=str(tmp_path / "o2"),
    )
    spec = write_spec(tmp_path / "ok.toml", allowed)
    r = cli("ladder", "plan", str(spec), "--json", "--flops-per-s", "1e9", timeout=120)
    assert r.returncode == 0, r.stderr


# ---- 5. numeric options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, option",
    [
        (["ladder", "run", "S.toml", "--lease", "-1"], "--lease"),
        (["ladder", "run", "S.toml", "--lease", "0"], "--lease"),
        (["ladder", "run", "S.toml", "--lease", "nan"], "--lease"),
        (["ladder", "run", "S.toml", "--lease", "inf"], "--lease"),
        (["ladder", "run", "S.toml", "--cpus-per-run", "0"], "--cpus-per-run"),
        (["ladder", "run", "S.toml", "--cpus-per-run", "nan"], "--cpus-per-run"),
        (["ladder", "run", "S.toml", "--gpus-per-run", "-1"], "--gpus-per-run"),
        (["ladder", "run", "S.toml", "--gpus-per-run", "inf"], "--gpus-per-run"),
        (["ladder", "run", "S.toml", "--flops-per-s", "0"], "--flops-per-s"),
        (["ladder", "run", "S.toml", "--workers", "0"], "--workers"),
        (["ladder", "plan", "S.toml", "--flops-per-s", "-5"], "--flops-per-s"),
        (["ladder", "plan", "S.toml", "--flops-per-s", "inf"], "--flops-per-s"),
        (["ladder", "sweep-lr", "S.toml", "--scales", "1,-2"], "--scales"),
        (["ladder", "sweep-lr", "S.toml", "--scales", "nan"], "--scales"),
        (["ladder", "sweep-lr", "S.toml", "--scales", "1,inf"], "--scales"),
        (["ladder", "sweep-lr", "S.toml", "--sizes", "0"], "--sizes"),
        (["train", "C.toml", "--nproc", "0"], "--nproc"),
        (["train", "C.toml", "--nproc", "-3"], "--nproc"),
        (["bench", "--steps", "0"], "--steps"),
        (["bench", "--sizes", "1e16"], "--sizes"),
        (
            ["data", "prepare", "-s", "synthetic:10", "-o", "X", "--validation", "nan"],
            "--validation",
        ),
        (["data", "prepare", "-s", "synthetic:10", "-o", "X", "--test", "1.5"], "--test"),
        (["data", "prepare", "-s", "synthetic:10", "-o", "X", "--seed", "-1"], "--seed"),
        (["data", "prepare", "-s", "synthetic:10", "-o", "X", "--max-docs", "0"], "--max-docs"),
        (["data", "prepare", "-s", "synthetic:10", "-o", "X", "--vocab-size", "9"], "--vocab-size"),
        (["data", "prepare", "-s", "synthetic:99999999999", "-o", "X"], "--source"),
        (["demo", "--bootstrap", "-1"], "--bootstrap"),
    ],
)
def test_numeric_options(tmp_path, capsys, monkeypatch, args, option):
    monkeypatch.chdir(tmp_path)
    one_error(capsys, *args, names=(option,))
    assert list(tmp_path.iterdir()) == []


# ---- 6. a budget below one batch ---------------------------------------------------------------


def test_tokens_below_one_batch_is_refused_with_the_minimum(tmp_path, capsys):
    config = tiny_config(tmp_path, train={"tokens": 100, "batch_tokens": 512, "lr": 1e-3})
    line = one_error(capsys, "train", str(config), names=(str(config), "[train] tokens = 100"))
    assert "the minimum is 512 tokens" in line and "smaller [train] batch_tokens" in line
    assert not (tmp_path / "run").exists()


def test_tokens_of_whole_batches_are_honoured_exactly():
    cfg = config_from_dict(merge(TINY, train={"tokens": 512, "batch_tokens": 512}), "c.toml")
    plan = plan_run(cfg, "c.toml")
    assert plan.tokens == 512 and plan.total_steps == 1
    cfg = config_from_dict(merge(TINY, train={"tokens": 700, "batch_tokens": 256}), "c.toml")
    plan = plan_run(cfg, "c.toml")
    assert plan.tokens == 768 and any("768 tokens trained" in n for n in plan.notes)


# ---- 7. command-line help ----------------------------------------------------------------------

MY_COMMANDS = [
    ("train",),
    ("bench",),
    ("ladder", "plan"),
    ("ladder", "run"),
    ("ladder", "status"),
    ("ladder", "export"),
    ("ladder", "sweep-lr"),
    ("data", "prepare"),
    ("data", "info"),
    ("demo",),
]


def _command(path: tuple[str, ...]):
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", MY_COMMANDS, ids=" ".join)
def test_help_flags_metavars_and_texts(capsys, path):
    code, _ = run_main(capsys, *path, "--help")
    assert code == 0
    cmd = _command(path)
    for param in cmd.params:
        if param.name == "help":
            continue
        if param.param_type_name == "option":
            assert param.help, f"{' '.join(path)} {param.opts}: no help text"
            if param.is_flag:
                assert param.metavar == "", f"{param.opts}: an on/off option must use Flag()"
        else:
            assert param.metavar and param.metavar.isupper(), f"{param.name}: no readable metavar"


@pytest.mark.parametrize("path", MY_COMMANDS, ids=" ".join)
def test_usage_lines_are_plain(path):
    r = subprocess.run(
        [sys.executable, "-m", "scalelab.cli", *path, "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", **_pythonpath()},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    usage = next(line for line in r.stdout.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    assert not any(ch.islower() for ch in usage.split("[OPTIONS]")[1]), usage
    assert "<bool>" not in r.stdout, r.stdout


def _pythonpath() -> dict:
    return {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME", "VIRTUAL_ENV")}


# ---- 8. module sizes ---------------------------------------------------------------------------


def test_my_modules_stay_under_500_lines():
    folders = ["scalelab/train", "scalelab/model", "scalelab/ladder"]
    files = [p for f in folders for p in (REPO / f).glob("*.py")]
    files += [REPO / "scalelab/data" / f"{m}.py" for m in ("corpora", "builtin", "userfiles")]
    files += [REPO / "scalelab/data" / f"{m}.py" for m in ("documents", "spec", "loader")]
    files += [REPO / "scalelab/cli" / f"{m}.py" for m in ("train", "ladder", "data", "demo")]
    long = {p.name: n for p in files if (n := len(p.read_text().splitlines())) > 500}
    assert not long
