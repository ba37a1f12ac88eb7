"""Well-known models, their training figures with a citation for each, and their distance from the
compute-optimal frontier of a chosen law.

At least the models tabulated by the source documents (seed 000: BERT, RoBERTa, Gemma 3, Qwen3,
PanGu-Sigma, Kimi K2, Llama 4 Behemoth) and the scaling-law literature (GPT-3, Gopher, Chinchilla,
DeepSeek-V3, Llama 3). ``tokens`` is the number of tokens processed in pre-training (what compute is
spent on); ``unique_tokens`` the data set's size where the source gives it separately. Training
FLOPs are C = 6 N D with N the *active* parameters for a mixture of experts (DESIGN.md §2), and the
source's own figure is shown beside it where it reports one.

Distance from compute-optimal: at the model's own C, the law's N_opt and D_opt; the model is
*over-trained* k x when its tokens/parameter is k times the optimum's, *under-trained* k x when it
is 1/k of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from scalelab.errors import InputError

SEED_000 = "seed 000 (Scaling Laws blog post, 2025-08-22), Table 1/2"
DEVLIN = "Devlin et al. 2018, BERT, arXiv:1810.04805"
LIU = "Liu et al. 2019, RoBERTa, arXiv:1907.11692"
BROWN = "Brown et al. 2020, Language Models are Few-Shot Learners, arXiv:2005.14165"
RAE = (
    "Rae et al. 2021, Scaling Language Models: Methods, Analysis & Insights from Training Gopher, "
    "arXiv:2112.11446"
)
HOFFMANN = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556"
REN = (
    "Ren et al. 2023, PanGu-Sigma: Towards Trillion Parameter Language Model with Sparse "
    "Heterogeneous Computing, arXiv:2303.10845"
)
GEMMA3 = "Gemma Team 2025, Gemma 3 Technical Report, arXiv:2503.19786"
QWEN3 = "Qwen Team 2025, Qwen3 Technical Report, arXiv:2505.09388"
KIMI = "Kimi Team 2025, Kimi K2: Open Agentic Intelligence, arXiv:2507.20534"
LLAMA4 = (
    "Meta AI 2025-04-05, The Llama 4 herd "
    "(blog post, ai.meta.com/blog/llama-4-multimodal-intelligence)"
)
DEEPSEEK = "DeepSeek-AI 2024, DeepSeek-V3 Technical Report, arXiv:2412.19437"
LLAMA3 = "Llama Team 2024, The Llama 3 Herd of Models, arXiv:2407.21783"


@dataclass(frozen=True)
class Model:
    name: str
    params: float  # total parameters
    tokens: float  # pre-training tokens processed
    citations: dict  # figure -> where it comes from
    active_params: Optional[float] = None  # mixture of experts: parameters active per token
    unique_tokens: Optional[float] = None
    reported_flops: Optional[float] = None
    year: Optional[int] = None
    notes: tuple = field(default_factory=tuple)

    @property
    def moe(self) -> bool:
        return self.active_params is not None and self.active_params < self.params

    @property
    def compute_params(self) -> float:
        """Parameters that cost FLOPs per token: active for a mixture of experts."""
        return self.active_params if self.active_params is not None else self.params

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.compute_params

    @property
    def flops(self) -> float:
        return 6.0 * self.compute_params * self.tokens

    def to_dict(self) -> dict:
        d = asdict(self)
        d["notes"] = list(self.notes)
        d.update(
            moe=self.moe,
            compute_params=self.compute_params,
            tokens_per_param=self.tokens_per_param,
            flops_6ND=self.flops,
        )
        return d


MODELS: tuple[Model, ...] = (
    Model(
        "BERT-base",
        110e6,
        128e9,
        {
            "params": f"{DEVLIN}, §3 (BERT_BASE 110M); {SEED_000} Table 2",
            "tokens": f"{DEVLIN}, Appendix A.2: 1,000,000 steps x 256 sequences x 512 tokens = "
            "128,000 tokens/batch, "
            "~40 epochs over the 3.3B-word corpus",
            "unique_tokens": f"{SEED_000} Table 2: 13 GB of text, ~2B+ tokens",
        },
        unique_tokens=2e9,
        year=2018,
        notes=(
            "90% of steps used 128-token sequences (A.2), so fewer tokens were processed than the "
            "nominal 128B",
        ),
    ),
    Model(
        "BERT-large",
        340e6,
        128e9,
        {
            "params": f"{DEVLIN}, §3 (BERT_LARGE 340M; seed 000 lists 335M)",
            "tokens": f"{DEVLIN}, Appendix A.2 (same schedule as BERT-base)",
            "unique_tokens": f"{SEED_000} Table 2: 13 GB, ~2B+ tokens",
        },
        unique_tokens=2e9,
        year=2018,
    ),
    Model(
        "RoBERTa-large",
        355e6,
        2.1e12,
        {
            "params": f"{SEED_000} Table 2 (355M)",
            "tokens": f"{LIU}, §5 and Table 4: 500K steps x 8K sequences x 512 tokens "
            "~ 2.1T tokens",
            "unique_tokens": f"{SEED_000} Table 2: 160 GB, ~20B+ tokens",
        },
        unique_tokens=20e9,
        year=2019,
    ),
    Model(
        "RoBERTa-base",
        125e6,
        2.1e12,
        {
            "params": f"{SEED_000} Table 2 (125M)",
            "tokens": f"{LIU}: trained like RoBERTa-large (500K steps, 8K x 512-token batches) "
            "per the authors' release",
            "unique_tokens": f"{SEED_000} Table 2: 160 GB, ~20B+ tokens",
        },
        unique_tokens=20e9,
        year=2019,
        notes=(
            "the paper's schedule is stated for RoBERTa-large; the base model's token count is "
            "approximate",
        ),
    ),
    Model(
        "GPT-3",
        175e9,
        300e9,
        {
            "params": f"{BROWN}, Table 2.1",
            "tokens": f"{BROWN}, Table D.1 (300B training tokens)",
            "reported_flops": f"{BROWN}, Table D.1: 3.14e23 FLOPs (3,640 PF-days)",
        },
        reported_flops=3.14e23,
        year=2020,
    ),
    Model(
        "Gopher",
        280e9,
        300e9,
        {
            "params": f"{RAE}, Table 1",
            "tokens": f"{RAE} (300B training tokens); {HOFFMANN}, Table 1",
            "reported_flops": f"{HOFFMANN}, §3: Gopher's compute budget, 5.76e23 FLOPs",
        },
        reported_flops=5.76e23,
        year=2021,
    ),
    Model(
        "Chinchilla",
        70e9,
        1.4e12,
        {
            "params": f"{HOFFMANN}, Table 1",
            "tokens": f"{HOFFMANN}, Table 1 (1.4T tokens)",
            "reported_flops": f"{HOFFMANN}, §3/§4: trained with Gopher's budget, 5.76e23 FLOPs",
        },
        reported_flops=5.76e23,
        year=2022,
    ),
    Model(
        "PanGu-Σ",
        1.085e12,
        329e9,
        {
            "params": f"{REN}, abstract (1.085T parameters); {SEED_000} Table 1 (1T)",
            "tokens": f"{REN}, abstract (329B tokens); {SEED_000} Table 1",
        },
        year=2023,
        notes=(
            "sparse (Random Routed Experts) but the active parameter count is not tabulated: "
            "C uses total parameters, an upper bound",
        ),
    ),
    Model(
        "Gemma 3 27B",
        27e9,
        14e12,
        {
            "params": f"{GEMMA3}, Table 1; {SEED_000} Table 1",
            "tokens": f"{GEMMA3}, §2.2 (14T tokens for the 27B model); {SEED_000} Table 1",
        },
        year=2025,
    ),
    Model(
        "Qwen3 32B",
        32.8e9,
        36e12,
        {
            "params": f"{QWEN3}, Table 1 and model card (32.8B; {SEED_000} Table 1: 32B)",
            "tokens": f"{QWEN3}, abstract and §3 (36T tokens); {SEED_000} Table 1",
        },
        year=2025,
    ),
    Model(
        "Kimi K2",
        1.04e12,
        15.5e12,
        {
            "params": f"{KIMI}, abstract (1.04T total, 32B activated); {SEED_000} Table 1 (1T, "
            "32B active)",
            "tokens": f"{KIMI}, abstract (15.5T tokens); {SEED_000} Table 1",
        },
        active_params=32e9,
        year=2025,
    ),
    Model(
        "Llama 4 Behemoth",
        2e12,
        30e12,
        {
            "params": f"{LLAMA4}: 288B active, 16 experts, nearly 2T total; "
            f"{SEED_000} Table 1 (2T)",
            "tokens": f"{LLAMA4}: 'more than 30 trillion tokens' in the Llama 4 pre-training "
            f"mixture; {SEED_000} Table 1 (30T)",
        },
        active_params=288e9,
        year=2025,
        notes=("still training when announced; 30T is the Llama 4 data mixture, a lower bound",),
    ),
    Model(
        "DeepSeek-V3",
        671e9,
        14.8e12,
        {
            "params": f"{DEEPSEEK}, abstract (671B total, 37B activated per token)",
            "tokens": f"{DEEPSEEK}, abstract (14.8T tokens)",
        },
        active_params=37e9,
        year=2024,
    ),
    Model(
        "Llama 3 405B",
        405e9,
        15.6e12,
        {
            "params": f"{LLAMA3} (405B)",
            "tokens": f"{LLAMA3}, §1 and §3 (15.6T text tokens)",
            "reported_flops": f"{LLAMA3}, §1 and §3 (3.8e25 FLOPs)",
        },
        reported_flops=3.8e25,
        year=2024,
    ),
    Model(
        "Llama 3 70B",
        70e9,
        15e12,
        {
            "params": f"{LLAMA3}, Table 1 (70B)",
            "tokens": "Meta AI 2024-04-18, Introducing Meta Llama 3 (blog): 'pretrained on over "
            "15T tokens'",
        },
        year=2024,
    ),
)


def names() -> list[str]:
    return [m.name for m in MODELS]


def get(name: str) -> Model:
    for m in MODELS:
        if m.name.lower() == name.lower():
            return m
    raise InputError(f"unknown model '{name}'; catalog: {', '.join(names())}")


def distance(model: Model, law) -> dict:
    """How far ``model`` sits from the law's compute-optimal allocation at the model's own C."""
    alloc = law.optimal(model.flops)
    ratio = model.tokens_per_param / alloc.tokens_per_param
    if ratio >= 1.0:
        verdict = f"over-trained {ratio:.3g}x"
    else:
        verdict = f"under-trained {1.0 / ratio:.3g}x"
    out = {
        "C": model.flops,
        "N_opt": alloc.N_opt,
        "D_opt": alloc.D_opt,
        "optimal_tokens_per_param": alloc.tokens_per_param,
        "ratio": ratio,
        "verdict": verdict,
        "size_ratio": model.compute_params / alloc.N_opt,
        "predicted_loss": float(law.predict(N=model.compute_params, D=model.tokens)),
        "optimal_loss": alloc.loss,
    }
    out["excess_loss"] = out["predicted_loss"] - alloc.loss
    return out


def table(law=None, models: Optional[list[str]] = None) -> list[dict]:
    """Rows of the catalog, with the distance from compute-optimal under ``law`` when given."""
    chosen = [get(n) for n in models] if models else list(MODELS)
    rows = []
    for m in chosen:
        row = m.to_dict()
        if law is not None:
            row["frontier"] = distance(m, law)
        rows.append(row)
    return rows
