"""The ladder: a grid of training runs planned from one spec, kept in a registry, run resumably.

* :mod:`~scalelab.ladder.spec`: the spec (it embeds the run config);
* :mod:`~scalelab.ladder.jobs`: the plan's types (a job holds its run config);
* :mod:`~scalelab.ladder.plan`: planning; :mod:`~scalelab.ladder.configure`: each job's run config;
* :mod:`~scalelab.ladder.registry`: every job and result in one SQLite file;
* :mod:`~scalelab.ladder.runner`: one job (claim, train or resume, record) and the worker loop;
* :mod:`~scalelab.ladder.executors`: sequential, a process pool, Ray;
* :mod:`~scalelab.ladder.status`: state, status rows, live progress;
* :func:`run`: all of it for one ladder (:mod:`~scalelab.ladder.orchestrate`).
"""

from scalelab.ladder.jobs import LadderPlan
from scalelab.ladder.orchestrate import LadderResult, check_executor, run
from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.runner import Interrupted, load_plan
from scalelab.ladder.spec import LadderSpec, load_spec, spec_from_dict

__all__ = [
    "Interrupted",
    "check_executor",
    "LadderPlan",
    "LadderResult",
    "LadderSpec",
    "load_plan",
    "load_spec",
    "plan_ladder",
    "run",
    "spec_from_dict",
]
