"""The threshold search's options, shared by ``neurosnn search`` and the commands built on it
(``neurosnn attack``): the parts of their command lines and the checks that need several."""

from __future__ import annotations

from neurosnn.config.common import Hardware, Output, Scalars, Source
from neurosnn.config.search import EvalConfig, Preset, SearchConfig
from neurosnn.experiments.parser import Part

RESUME = "a rerun into the same --out resumes an interrupted search (the same settings)"


def parts(preset: str) -> tuple[Part, ...]:
    """The search's options, for this command and those built on it (attack)."""
    return (
        Part("source", Source),
        Part("preset", Preset, defaults={"preset": preset}),
        Part("search", SearchConfig, base=lambda built: built["preset"].config(),
             base_text="the preset's"),
        Part("evaluation", EvalConfig),
        Part("output", Output),
        Part("scalars", Scalars),
        Part("hardware", Hardware),
    )  # fmt: skip


def check(built: dict) -> None:
    """What the search's options must satisfy together."""
    from neurosnn.errors import UserError

    built["source"].require(one=True)
    evaluation, search = built["evaluation"], built["search"]
    T = evaluation.timesteps or search.timesteps
    if evaluation.iso_time is not None and evaluation.iso_time > T:
        raise UserError(
            f"iso_time must be <= T = {T} (the evaluation's), got {evaluation.iso_time}"
        )


def start(job) -> tuple:
    """The start of a search command: ``(search config, evaluation config with the network's
    path and device, the output folder claimed, checkpoint, data)``; the log and
    ``config.yaml`` are set up in the folder."""
    import dataclasses

    from neurosnn.experiments.common import claim_output, load_network, setup_logging

    ecfg = dataclasses.replace(
        job.evaluation,
        checkpoint=(job.source.checkpoint or job.source.weights)[0],
        data_root=job.source.data_root,
        device=job.hardware.apply(),
    )
    if ecfg.ray_address not in (None, "local", "auto"):
        from neurosnn.search.evaluate import check_listening

        check_listening(ecfg.ray_address)  # before any work: Ray itself retries for minutes
    out = claim_output(job.output.out)
    setup_logging(out / "search.log")
    job.write_config(out)
    ckpt, data, _ = load_network(job.source)
    return job.search, ecfg, out, ckpt, data
