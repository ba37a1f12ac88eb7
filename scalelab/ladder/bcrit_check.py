"""What a measured critical batch size says of a ladder's batch rule: each job's batch against
B_crit(L) at its expected loss (:func:`scalelab.ladder.batches.compare_rule`), for a spec file.

``scalelab bcrit RUNS --ladder SPEC --law LAW`` prints it. A batch far below B_crit spends up to
1 + B_crit/B times the fewest steps (slow in wall time); far above, up to 1 + B/B_crit times the
fewest tokens (wasted compute). Kaplan et al. 2020 (Eq. 5.4) train near B_crit.
"""

from __future__ import annotations

from scalelab.errors import InputError
from scalelab.ladder.batches import compare_rule
from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.spec import load_spec
from scalelab.laws import published


def compare_spec(spec_path, law_spec: str, b_star: float, alpha_b: float) -> list[dict]:
    """:func:`~scalelab.ladder.batches.compare_rule` for the plan of the ladder spec at
    ``spec_path`` (its own batch rule), each rung's expected loss from ``law_spec`` (a law file
    or a published law's name)."""
    law = published.resolve(law_spec)
    if not set(law.law_form.variables) <= {"N", "D"}:
        raise InputError(f"--law: a law of N and D is needed for each rung's loss (got {law.form})")
    return compare_rule(plan_ladder(load_spec(spec_path), str(spec_path)), law, b_star, alpha_b)
