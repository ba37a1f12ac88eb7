"""The plans the job-equality test pins (tests/test_ladder_jobs.py), and how they are recorded.

Each case is a ladder spec (a dict or an example file) planned as ``scalelab ladder plan`` plans
it, plus the learning-rate sweep of the tiny ladder. ``record()`` writes
``tests/data/ladder_plans_recorded.json`` (run it only to re-record, with the code to compare to):

    PYTHONPATH=$PWD python tests/ladder_plan_cases.py
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ladder_helpers import ladder_dict  # noqa: E402

EXAMPLES = HERE.parent / "examples"
RECORDED = HERE / "data" / "ladder_plans_recorded.json"
LAW = {"E": 1.0, "A": 40.0, "B": 40.0, "alpha": 0.3, "beta": 0.3}


def _bcrit(folder: Path) -> dict:
    from scalelab.laws.law import Law

    Law("chinchilla", dict(LAW)).save(folder / "law.json")
    return ladder_dict(
        grid={**ladder_dict()["grid"], "tokens_per_param": [40, 80]},
        train={"schedule": "cosine"},
        hparams={
            "min_steps": 50,
            "batch_rule": "bcrit",
            "bcrit": "2e5,0.3",
            "bcrit_law": "law.json",
        },
    )


CASES = {
    "tiny": lambda folder: ladder_dict(),
    "tiny_moe_seeds": lambda folder: ladder_dict(
        model={"n_expert": 4, "top_k": 2, "positions": "rotary", "mlp": "swiglu"},
        train={"schedule": "cosine", "beta1": 0.8},
        grid={**ladder_dict()["grid"], "seeds": [0, 1]},
    ),
    "sizes_lr_fixed": lambda folder: ladder_dict(
        grid={"sizes": [2.5e4, 1e5], "tokens_per_param": [5, 40]},
        model={"n_ctx": 32},
        hparams={"min_steps": 100, "lr": 2e-3, "max_batch_tokens": 256},
    ),
    "bcrit": _bcrit,
    "ladder_batch.toml": lambda folder: EXAMPLES / "ladder_batch.toml",
    "ladder_recipes.toml": lambda folder: EXAMPLES / "ladder_recipes.toml",
    "ladder_shapes.toml": lambda folder: EXAMPLES / "ladder_shapes.toml",
    "ladder_curves.toml": lambda folder: EXAMPLES / "ladder_curves.toml",
    "ladder_datamix.toml": lambda folder: EXAMPLES / "ladder_datamix.toml",
}


def _scrub(obj, prefix: str):
    if isinstance(obj, dict):
        return {k: _scrub(v, prefix) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v, prefix) for v in obj]
    if not isinstance(obj, str):
        return obj
    # a mixture's folder is named by a hash of its base folder's absolute path
    return re.sub(r"data-mix-[0-9a-f]{12}", "data-mix-<hash>", obj.replace(prefix, "<tmp>"))


def plan_case(name: str, folder: Path) -> dict:
    """The case's plan as JSON data: ``to_dict()`` and every job's run config; paths under
    ``folder`` (the working directory while planning) written ``<tmp>``, mixture hashes
    ``<hash>``."""
    from scalelab.ladder.plan import plan_ladder
    from scalelab.ladder.spec import load_spec, spec_from_dict
    from scalelab.ladder.sweep import sweep_plan

    folder = folder.resolve()
    old = os.getcwd()
    os.chdir(folder)
    try:
        raw = CASES[name](folder)
        spec = load_spec(raw) if isinstance(raw, Path) else spec_from_dict(raw, base_dir=folder)
        spec = spec.model_copy(update={"out_dir": "lad"})
        plan = plan_ladder(spec)
        out = {"plan": plan.to_dict(), "configs": {j.run_id: j.config for j in plan.jobs}}
        if name == "tiny":
            sweep = sweep_plan(plan)
            out["sweep"] = {
                "plan": sweep.to_dict(),
                "configs": {j.run_id: j.config for j in sweep.jobs},
            }
    finally:
        os.chdir(old)
    return _scrub(json.loads(json.dumps(out)), str(folder))


def record() -> None:
    import subprocess
    import tempfile

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    cases = {}
    for name in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            cases[name] = plan_case(name, Path(tmp))
    about = (
        f"Ladder plans (to_dict) and job run configs recorded at commit {commit}, before Job held "
        "only its run config (shape, batch and lr were fields beside it); '<tmp>' is the working "
        "directory. tests/test_ladder_jobs.py checks that today's planner gives the same."
    )
    RECORDED.write_text(
        json.dumps({"_about": about, "cases": cases}, indent=1, sort_keys=True) + "\n"
    )


if __name__ == "__main__":
    record()
