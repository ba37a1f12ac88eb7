"""Export commands: export-hf (a run's checkpoint, or a ladder's, as Hugging Face models)."""

from __future__ import annotations

import typer

from scalelab.cli.common import Flag, JsonOpt, app, emit_json, out
from scalelab.cli.usage import PlainUsage


@app.command("export-hf", cls=PlainUsage)
def export_hf_cmd(
    run: str = typer.Argument(
        ...,
        metavar="RUN",
        help="a run folder (its checkpoint.pt) or a checkpoint file; with --all a ladder folder",
    ),
    out_dir: str = typer.Option(
        ..., "-o", "--out", metavar="DIR", help="the folder to write (replaced when complete)"
    ),
    all_runs: bool = Flag("--all", help="every checkpoint of the ladder RUN, one subfolder each"),
    json_out: bool = JsonOpt,
) -> None:
    """Write a run's checkpoint as a Hugging Face transformers model (config.json,
    model.safetensors, the tokenizer): GPT-2 for learned positions and GELU, GPT-NeoX for rotary
    and GELU, StableLM for rotary and SwiGLU, DBRX for a mixture of rotary SwiGLU experts. Needs
    the extra 'hf' (transformers, safetensors)."""
    from scalelab.ladder.export import export_hf

    result = export_hf(run, out_dir, all_runs=all_runs)
    if json_out:
        emit_json(result.to_dict())
        return
    say = dict(markup=False, highlight=False, soft_wrap=True)
    runs = result.runs if all_runs else [result]
    for r in runs:
        out.print(
            f"wrote {r.out_dir}: {r.architecture} ({r.n_params:,} parameters, step {r.step}), "
            f"logits checked equal to scalelab's (max |difference| {r.max_abs_diff:.2g})",
            **say,
        )
        if not all_runs:
            out.print(f"files: {', '.join(r.files)}", **say)
        if r.tokenizer:
            out.print(f"tokenizer: {r.tokenizer}", **say)
        if r.context:
            out.print(
                f"context: {r.context} tokens (config.json max_position_embeddings); a longer "
                f"input fails inside transformers: keep its last {r.context} tokens "
                "(docs/training.md, Export to Hugging Face)",
                **say,
            )
        for note in r.notes:
            out.print(f"note: {note}", **say)
    for run_id in getattr(result, "skipped", []):
        out.print(f"skipped {run_id}: no checkpoint in its run folder", **say)
