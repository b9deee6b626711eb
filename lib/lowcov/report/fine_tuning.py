"""Chapter 6's tables and words: the configurations, the schedules, the runs and the controls."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from .common import SELF_AGREEMENT


# ---- chapter 6: the fine-tuning runs --------------------------------------------------------------------

def config_table(defaults: Any, configs: Mapping[str, Any], hidden: Iterable[str], always: Sequence[str] = (
        "tune_every_steps", "num_epochs", "learning_rate_num_epochs_per_decay", "best_checkpoint_metric"),
                 init_checkpoint: str = "original model best.pt") -> pd.DataFrame:
    """The keys any of ``configs`` changes from ``defaults`` (except ``hidden`` ones), then ``always``,
    beside DeepVariant's defaults; ``init_checkpoint`` names the start of every run."""
    fields = list(type(defaults).__dataclass_fields__)
    shown = [k for k in fields if k not in hidden and any(getattr(c, k) != getattr(defaults, k) for c in configs.values())]
    shown += list(always)
    table = pd.DataFrame({"DeepVariant default": {k: getattr(defaults, k) for k in shown},
                          **{name: {k: getattr(c, k) for k in shown} for name, c in configs.items()}})
    table = table.astype(object)  # the row added below is text in columns that may be numbers
    table.loc["init_checkpoint"] = ["''", *[init_checkpoint] * len(configs)]
    return table.astype(str)


def config_differences(first: Any, second: Any, names: tuple[str, str],
                       ignored: Iterable[str] = ("train_dataset_pbtxt", "tune_dataset_pbtxt", "init_checkpoint")
                       ) -> pd.DataFrame:
    """The keys where two configurations disagree (except ``ignored``), one column each."""
    keys = [k for k in type(first).__dataclass_fields__ if getattr(first, k) != getattr(second, k) and k not in ignored]
    # object columns: each value printed as itself (an int column with a float in it would print 50 as 50.0)
    return pd.DataFrame({name: pd.Series({k: getattr(config, k) for k in keys}, dtype=object)
                         for name, config in zip(names, (first, second))}).astype(str)


def schedule_values(configs: Mapping[str, Any], n_train: int) -> dict[str, float | int]:
    """Glue name -> each run's steps per epoch, planned steps, warm-up and peak learning rate on ``n_train``
    examples, e.g. ``v1_planned_steps``."""
    from ..train import learning_rate_at, planned_steps

    values: dict[str, float | int] = {}
    for name, c in configs.items():
        steps_per_epoch, total = planned_steps(c, n_train)
        values[f"{name.lower()}_steps_per_epoch"] = int(steps_per_epoch)
        values[f"{name.lower()}_planned_steps"] = int(total)
        values[f"{name.lower()}_warmup"] = int(c.warmup_steps)
        values[f"{name.lower()}_peak_lr"] = float(max(learning_rate_at(s, c, steps_per_epoch) for s in range(total)))
    return values


def _tune_scores(log_path) -> tuple[float, float, int]:
    """A training log's tune f1_weighted of the warm start (its ``init`` row), at the last evaluation, and
    how many evaluations of trained weights it made."""
    log = pd.read_csv(log_path)
    start = log[log.event == "init"].iloc[0]
    tuned = log[log.event != "init"].dropna(subset=["tune_f1_weighted"])
    return float(start.tune_f1_weighted), float(tuned.tune_f1_weighted.iloc[-1]), len(tuned)


def selected_text(best_step: int) -> str:
    return f"the checkpoint of step {best_step}"


def peak_learning_rate(log_path) -> float:
    """The largest learning rate a run trained with (from its log)."""
    return float(pd.read_csv(log_path).learning_rate.max())


def warmup_ended(run: Any) -> bool:
    """Whether ``run`` made at least one update after its warm-up (DeepVariant's warm-up takes the updates that
    follow steps 0 .. warmup_steps - 1; a run without one trains at its schedule's rate from the first step)."""
    return bool(run.steps > run.config.warmup_steps)


def schedule_table(runs: Mapping[str, Any]) -> pd.DataFrame:
    """Per run (every seed, every control): how far it got along its learning-rate schedule. Steps run and
    per epoch, the warm-up's length and whether the run got past it, the peak learning rate it trained with
    (from its log), that peak as a share of the configured rate (the rate the warm-up climbs to) and the
    arithmetic its training steps computed in (from its record; "" for records that predate it)."""
    rows = {}
    for name, run in runs.items():
        config = run.config
        peak = peak_learning_rate(run.log_path)
        rows[name] = {"batch size": int(config.batch_size),
                      "steps per epoch": math.ceil(run.steps / run.epochs) if run.epochs else 0,
                      "steps run": int(run.steps), "warm-up steps": int(config.warmup_steps),
                      "warm-up ended": warmup_ended(run),
                      "peak learning rate": peak, "configured learning rate": float(config.learning_rate),
                      "peak / configured": peak / config.learning_rate, "stopped by": run.stopped_by,
                      "arithmetic": getattr(run, "precision", "")}
    return pd.DataFrame(rows).T.astype({"batch size": int, "steps per epoch": int, "steps run": int,
                                        "warm-up steps": int, "warm-up ended": bool, "peak learning rate": float,
                                        "configured learning rate": float, "peak / configured": float})


def schedule_text(schedule: pd.DataFrame) -> str:
    """Which runs got past their warm-up, and how far the others climbed (rows of :func:`schedule_table`; runs
    with the same steps, warm-up and peak, such as the seeds of one run, are named together)."""
    warming = schedule[(schedule["warm-up steps"] > 0) & ~schedule["warm-up ended"]]
    past = schedule[(schedule["warm-up steps"] > 0) & schedule["warm-up ended"]]
    if warming.empty and past.empty:
        return "No run has a warm-up."
    if warming.empty:
        return "Every run with a warm-up got past it and trained at its configured learning rate."
    alike = warming.assign(peak=warming["peak learning rate"].map(lambda rate: f"{rate:.2e}"))
    groups = alike.groupby(["steps run", "warm-up steps", "peak"], sort=False)
    climbed = [f"{', '.join(group.index)} ran {steps} of {warmup} warm-up steps and peaked at {peak} "
               f"({group['peak / configured'].iloc[0]:.0%} of the learning rate)"
               for (steps, warmup, peak), group in groups]
    text = "Still inside the warm-up when training stopped: " + "; ".join(climbed) + "."
    if not past.empty:
        text += " Past it: " + ", ".join(past.index) + "."
    return text


def fine_tune_summary(runs: Mapping[str, Any]) -> pd.DataFrame:
    """Per run: the warm start's tune score (the bar), the trained checkpoint selected and its score, the
    last tune score, the steps run, the peak learning rate and whether the warm-up ended."""
    rows = {}
    for name, run in runs.items():
        start, last, evaluations = _tune_scores(run.log_path)
        rows[name] = {"warm start tune f1_weighted (the bar)": start, "selected step": run.best_step,
                      "selected tune f1_weighted": run.best_metrics["tune/f1_weighted"],
                      "last tune f1_weighted": last, "steps run": run.steps,
                      "peak learning rate": peak_learning_rate(run.log_path),
                      "warm-up ended": warmup_ended(run), "stopped by": run.stopped_by,
                      "tune evaluations": evaluations, "seconds": round(run.wall_seconds, 1)}
    return pd.DataFrame(rows).T


def fine_tune_values(runs: Mapping[str, Any]) -> dict[str, Any]:
    """Glue name -> each run's selected step and score, warm-start and last tune score, steps and the words
    for what it selected, e.g. ``v2_selected_text``."""
    values: dict[str, Any] = {}
    for name, run in runs.items():
        start, last, _ = _tune_scores(run.log_path)
        values[f"{name.lower()}_best_step"] = int(run.best_step)
        values[f"{name.lower()}_best_f1"] = float(run.best_metrics["tune/f1_weighted"])
        values[f"{name.lower()}_start_f1"] = start
        values[f"{name.lower()}_last_f1"] = last
        values[f"{name.lower()}_steps"] = int(run.steps)
        values[f"{name.lower()}_selected_text"] = selected_text(run.best_step)
    return values


def self_labelled_text(summary: pd.DataFrame) -> str:
    """How the selected (trained) checkpoints score against the warm start, and why the warm start is hard
    to beat when it made the tune labels itself."""
    starts = summary["warm start tune f1_weighted (the bar)"]
    selected = summary["selected tune f1_weighted"]
    own_labels = ("the tune labels are the original model's own calls on the RNA reads (chapter 4), so the warm start "
                  "agrees with them almost perfectly")
    if (selected == starts).all():
        return (f"Every run's selected checkpoint scores exactly as the warm start: {own_labels}, and the earliest "
                "trained checkpoints still do, so DeepVariant's rule deploys the first of them (ties go to the earlier).")
    if min(starts) >= SELF_AGREEMENT and (selected < starts).all():
        return (f"No trained checkpoint reaches the warm start's score, and that is built into the experiment: "
                f"{own_labels} and every step away from it loses agreement. DeepVariant deploys a trained checkpoint "
                "all the same; the selected ones are the least far from the warm start.")
    if (selected > starts).all():
        return "Every run's selected checkpoint scores above the warm start on the tune set."
    return (f"The runs differ: against the warm start some selected checkpoints score higher, some lower or level "
            f"({own_labels}).")


def replicate_summary(replicates: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Per run and seed: the selected step and tune score, steps run and the warm start's score."""
    rows = {}
    for name, results in replicates.items():
        for result in results:
            start, _, _ = _tune_scores(result.log_path)
            rows[f"{name} (seed {result.config.seed})"] = {
                "warm start tune f1_weighted": start, "selected step": result.best_step,
                "selected tune f1_weighted": result.best_metrics["tune/f1_weighted"], "steps run": result.steps,
                "stopped by": result.stopped_by}
    return pd.DataFrame(rows).T


def controls_table(all_controls: Sequence[Any], chosen: Sequence[Any]) -> pd.DataFrame:
    """Every control: what it adds to V2's list, what it isolates, its seeds and whether it runs here."""
    from ..study.controls import EXAMPLE_SOURCES

    return pd.DataFrame({"added to V2's list": {c.name: "; ".join([*c.extra, *(["V2's number of steps"]
                                                                              if c.steps_of_v2 else [])])
                                                 for c in all_controls},
                         "trained on": {c.name: EXAMPLE_SOURCES[c.examples] for c in all_controls},
                         "what it isolates": {c.name: c.purpose for c in all_controls},
                         "seeds": {c.name: ", ".join(map(str, c.seeds)) for c in all_controls},
                         "run here": {c.name: c in chosen for c in all_controls}})


def drift_table(runs: Mapping[str, Any], drifts: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Per run: steps, selected step, peak learning rate and how far its end-of-run weights and batch-norm
    statistics moved (:func:`lowcov.batchnorm.checkpoint_drift`)."""
    rows = {}
    for name, run in runs.items():
        drift = drifts[name]
        rows[name] = {"steps run": run.steps, "selected step": run.best_step,
                      "peak learning rate": pd.read_csv(run.log_path).learning_rate.max(),
                      "weights: relative change": drift["weights_relative"],
                      "weights: largest change": drift["weights_max_abs"],
                      "batch-norm statistics: relative change": drift["batch_norm_statistics_relative"],
                      "batch-norm statistics: largest change": drift["batch_norm_statistics_max_abs"],
                      "seconds": round(run.wall_seconds, 1)}
    return pd.DataFrame(rows).T.astype({"steps run": int, "selected step": int})


def drift_values(drifts: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Glue name -> relative drift of weights and statistics, e.g. ``v2_weights_drift``, ``v2_bn_drift``."""
    values = {}
    for slug, drift in drifts.items():
        values[f"{slug}_weights_drift"] = float(drift["weights_relative"])
        values[f"{slug}_bn_drift"] = float(drift["batch_norm_statistics_relative"])
    return values


def controls_drift_text(drifts: pd.DataFrame, shown: Sequence[str], control_runs: Mapping[str, Any]) -> str:
    """How far the controls (the ``shown`` runs of :func:`drift_table`) moved, and what they selected."""
    if not control_runs:
        return "No control was run on this profile."

    def moved(name: str) -> str:
        row = drifts.loc[name]
        return (f"{name} ran {int(row['steps run'])} steps (peak learning rate {row['peak learning rate']:.1e}); its "
                f"weights moved by {row['weights: relative change']:.1e} and its statistics by "
                f"{row['batch-norm statistics: relative change']:.1e}")

    text = "; ".join(moved(name) for name in shown) + "."
    return text + " Selected checkpoints: " + ", ".join(f"{n} step {r.best_step}" for n, r in control_runs.items()) + "."
