"""The chance accuracy of well-known tasks: the accuracy of a uniform guess over the answer
options the task's paper defines (0 for open-answer tasks scored by exact match or greedy
decoding, such as LAMBADA).

:data:`CHANCE` holds one entry per benchmark family: the chance, the number of options and where
that number comes from. A task name matches its family's name exactly or with a suffix after
``_``, ``-``, ``:`` or ``.`` (``arc_easy_test``, ``hendrycksTest-anatomy``, ``mmlu_stem``,
``arc_challenge:mc``); the longest matching name wins (``mmlu_pro_law`` is MMLU-Pro, not MMLU).
A chance given by the user (``--chance TASK=P``; ``TASK`` may be a glob such as
``'crows_pairs_*'``) comes first.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import NamedTuple, Optional


class Chance(NamedTuple):
    chance: float
    options: str
    source: str


def _c(options: int) -> float:
    return 1.0 / options


CHANCE: dict[str, Chance] = {
    # multiple choice, 4 options
    "arc_easy": Chance(_c(4), "4 options", "Clark et al. 2018, arXiv:1803.05457"),
    "arc_challenge": Chance(_c(4), "4 options", "Clark et al. 2018, arXiv:1803.05457"),
    "hellaswag": Chance(_c(4), "4 endings", "Zellers et al. 2019, arXiv:1905.07830"),
    "mmlu": Chance(_c(4), "4 options", "Hendrycks et al. 2021, arXiv:2009.03300"),
    "hendrycksTest": Chance(_c(4), "4 options", "MMLU (old harness name), arXiv:2009.03300"),
    "sciq": Chance(_c(4), "4 options", "Welbl et al. 2017, arXiv:1707.06209"),
    "openbookqa": Chance(_c(4), "4 options", "Mihaylov et al. 2018, arXiv:1809.02789"),
    "obqa": Chance(_c(4), "4 options", "OpenBookQA, arXiv:1809.02789"),
    "logiqa": Chance(_c(4), "4 options", "Liu et al. 2020, arXiv:2007.08124"),
    "logiqa2": Chance(_c(4), "4 options", "Liu et al. 2023, arXiv:2304.03439"),
    "race": Chance(_c(4), "4 options", "Lai et al. 2017, arXiv:1704.04683"),
    "swag": Chance(_c(4), "4 endings", "Zellers et al. 2018, arXiv:1808.05326"),
    "prost": Chance(_c(4), "4 options", "Aroca-Ouellette et al. 2021, arXiv:2106.03634"),
    # 5 options
    "csqa": Chance(_c(5), "5 options", "Talmor et al. 2019, arXiv:1811.00937"),
    "commonsense_qa": Chance(_c(5), "5 options", "Talmor et al. 2019, arXiv:1811.00937"),
    "mathqa": Chance(_c(5), "5 options", "Amini et al. 2019, arXiv:1905.13319"),
    "qa4mre": Chance(_c(5), "5 options", "Peñas et al. 2013 (CLEF QA4MRE)"),
    # 10 options
    "mmlu_pro": Chance(_c(10), "10 options", "Wang et al. 2024, arXiv:2406.01574"),
    # 3 options
    "socialiqa": Chance(_c(3), "3 answers", "Sap et al. 2019, arXiv:1904.09728"),
    "social_iqa": Chance(_c(3), "3 answers", "Sap et al. 2019, arXiv:1904.09728"),
    "siqa": Chance(_c(3), "3 answers", "Sap et al. 2019, arXiv:1904.09728"),
    "anli": Chance(_c(3), "3 labels", "Nie et al. 2020, arXiv:1910.14599"),
    "mnli": Chance(_c(3), "3 labels", "Williams et al. 2018, arXiv:1704.05426"),
    "cb": Chance(_c(3), "3 labels", "De Marneffe et al. 2019 (SuperGLUE, arXiv:1905.00537)"),
    "pubmedqa": Chance(_c(3), "yes/no/maybe", "Jin et al. 2019, arXiv:1909.06146"),
    # 2 options
    "piqa": Chance(_c(2), "2 solutions", "Bisk et al. 2020, arXiv:1911.11641"),
    "winogrande": Chance(_c(2), "2 options", "Sakaguchi et al. 2020, arXiv:1907.10641"),
    "wsc": Chance(_c(2), "yes/no (SuperGLUE WSC)", "Levesque et al. 2012; arXiv:1905.00537"),
    "wsc273": Chance(_c(2), "2 candidates", "Levesque et al. 2012"),
    "boolq": Chance(_c(2), "yes/no", "Clark et al. 2019, arXiv:1905.10044"),
    "copa": Chance(_c(2), "2 alternatives", "Roemmele et al. 2011 (AAAI spring symposium)"),
    "xcopa": Chance(_c(2), "2 alternatives", "Ponti et al. 2020, arXiv:2005.00333"),
    "storycloze": Chance(_c(2), "2 endings", "Mostafazadeh et al. 2016, arXiv:1604.01696"),
    "xstorycloze": Chance(_c(2), "2 endings", "Lin et al. 2022, arXiv:2112.10668"),
    "xwinograd": Chance(_c(2), "2 options", "Tikhonov & Ryabinin 2021, arXiv:2106.12066"),
    "rte": Chance(_c(2), "2 labels", "GLUE/SuperGLUE RTE, arXiv:1804.07461"),
    "wic": Chance(_c(2), "2 labels", "Pilehvar & Camacho-Collados 2019, arXiv:1808.09121"),
    "qnli": Chance(_c(2), "2 labels", "GLUE, arXiv:1804.07461"),
    "mrpc": Chance(_c(2), "2 labels", "GLUE, arXiv:1804.07461"),
    "qqp": Chance(_c(2), "2 labels", "GLUE, arXiv:1804.07461"),
    "sst2": Chance(_c(2), "2 labels", "GLUE, arXiv:1804.07461"),
    "blimp": Chance(_c(2), "minimal pairs", "Warstadt et al. 2020, arXiv:1912.00582"),
    # open answer: no guess is right
    "lambada": Chance(0.0, "open answer (greedy word)", "Paperno et al. 2016, arXiv:1606.06031"),
    "triviaqa": Chance(0.0, "open answer", "Joshi et al. 2017, arXiv:1705.03551"),
    "nq_open": Chance(0.0, "open answer", "Kwiatkowski et al. 2019 (TACL)"),
    "webqs": Chance(0.0, "open answer", "Berant et al. 2013 (EMNLP)"),
    "gsm8k": Chance(0.0, "open answer", "Cobbe et al. 2021, arXiv:2110.14168"),
    "arithmetic": Chance(0.0, "open answer", "Brown et al. 2020, arXiv:2005.14165"),
}
"""Chance accuracy of well-known tasks by benchmark family, with the number of options and its
source. Tasks whose number of options varies per question (TruthfulQA's MC1, HEAD-QA) are left
out: give them ``--chance``."""

KNOWN_CHANCE = {name: entry.chance for name, entry in CHANCE.items()}
"""{family: chance}, as :data:`CHANCE` without the sources."""

_SEPARATORS = "_-:."


def _family(task: str, names) -> Optional[str]:
    best = None
    for name in names:
        low = name.lower()
        t = task.lower()
        if t == low or (t.startswith(low) and t[len(low)] in _SEPARATORS):
            if best is None or len(name) > len(best):
                best = name
    return best


def chance_of(
    task: str, given: Optional[Mapping[str, float]] = None, builtin: bool = True
) -> Optional[float]:
    """The chance accuracy of ``task``: ``given`` ({name or glob: value}; an exact name first,
    then the first matching glob), else (``builtin``) the built-in table (:data:`CHANCE`), else
    None."""
    if given:
        if task in given:
            return float(given[task])
        for pattern, value in given.items():
            if _is_glob(pattern) and fnmatch.fnmatchcase(task, pattern):
                return float(value)
    if not builtin:
        return None
    name = _family(task, CHANCE)
    return CHANCE[name].chance if name is not None else None


def source_of(task: str) -> Optional[Chance]:
    """The built-in entry a task's chance comes from (None when unknown)."""
    name = _family(task, CHANCE)
    return CHANCE[name] if name is not None else None


def _is_glob(pattern: str) -> bool:
    return re.search(r"[*?\[]", pattern) is not None
