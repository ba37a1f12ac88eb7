"""Export commands: export-hf (a run's checkpoint as a Hugging Face transformers model)."""

from __future__ import annotations

import typer

from scalelab.cli.common import JsonOpt, app, emit_json, out
from scalelab.cli.usage import PlainUsage


@app.command("export-hf", cls=PlainUsage)
def export_hf_cmd(
    run: str = typer.Argument(
        ..., metavar="RUN", help="a run folder (its checkpoint.pt) or a checkpoint file"
    ),
    out_dir: str = typer.Option(
        ..., "-o", "--out", metavar="DIR", help="the folder to write (replaced when complete)"
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Write a run's checkpoint as a Hugging Face transformers model (config.json,
    model.safetensors, the tokenizer): GPT-2 for learned positions and GELU, GPT-NeoX for rotary
    and GELU, StableLM for rotary and SwiGLU. Needs the extra 'hf' (transformers, safetensors)."""
    from scalelab.train.export import export_run

    result = export_run(run, out_dir)
    if json_out:
        emit_json(result.to_dict())
        return
    out.print(
        f"wrote {result.out_dir}: {result.architecture} ({result.n_params:,} parameters, "
        f"step {result.step}), logits checked equal to scalelab's "
        f"(max |difference| {result.max_abs_diff:.2g})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    out.print(f"files: {', '.join(result.files)}", markup=False, highlight=False)
    if result.tokenizer:
        out.print(f"tokenizer: {result.tokenizer}", markup=False, highlight=False)
    for note in result.notes:
        out.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
