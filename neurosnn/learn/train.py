"""ANN training loop: SGD or Adam with a cosine or step schedule, per-epoch evaluation and a
per-epoch checkpoint from which training resumes exactly (data order is seeded per epoch)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from neurosnn.config.train import DATASET_OPTIONS as DATASET_OPTIONS  # re-exported
from neurosnn.config.train import TrainConfig
from neurosnn.errors import UserError
from neurosnn.io.checkpoint import CHECKPOINT_NAME, Checkpoint, load_checkpoint, save_checkpoint
from neurosnn.io.data import Dataset, Split, fingerprint, seeded_subset, split_fingerprint
from neurosnn.io.output import ResumeMismatch
from neurosnn.learn.nq import nq_layers, update_noise

log = logging.getLogger(__name__)
NQ_IMAGES = 512  # training images on which an NQ network's residual is measured each epoch


class TrainingDiverged(UserError):
    """The loss became NaN or infinite (the epoch is not saved)."""


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            nesterov=True,
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(
            opt, milestones=[int(cfg.epochs * 0.5), int(cfg.epochs * 0.75)], gamma=0.1
        )
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


@torch.no_grad()
def evaluate(
    model: nn.Module, split: Split, batch_size: int = 256, device: torch.device | str = "cpu"
) -> float:
    """Top-1 accuracy of ``model`` on ``split``; restores the model's train/eval mode."""
    was_training = model.training
    model.eval()
    correct = total = 0
    start = last = time.perf_counter()
    try:
        for x, y in split.batches(batch_size):
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
            total += len(y)
            now = time.perf_counter()
            if now - last >= 10:  # a long test is not silent
                log.info("testing: %d of %d images (%.0f s)", total, len(split), now - start)
                last = now
    finally:
        model.train(was_training)
    return correct / max(total, 1)


def _residual_images(model: nn.Module, data: Dataset, seed: int) -> torch.Tensor | None:
    """The training images an NQ network's residual is measured on (None: not an NQ net)."""
    if not nq_layers(model):
        return None
    subset, _ = seeded_subset(data.train, NQ_IMAGES, seed)
    return torch.cat([x for x, _ in subset.batches(256)])


def train_ann(
    model: nn.Module,
    data: Dataset,
    cfg: TrainConfig,
    out_dir: str | Path | None = None,
    resume: bool = False,
    device: torch.device | str = "cpu",
    progress: bool = True,
    train_fingerprint: str | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> Checkpoint:
    """Train ``model`` (built by ``networks.create_network``) and checkpoint every epoch.

    Args:
        model: network with a ``spec`` attribute.
        data: the dataset; evaluation uses its test split.
        cfg: hyper-parameters.
        out_dir: where ``checkpoint.pt`` is written after each epoch (None: nowhere).
        resume: continue from ``out_dir/checkpoint.pt`` if it exists.
        device: training device.
        progress: show progress bars.
        train_fingerprint: ``split_fingerprint`` of the whole training split when
            ``data.train`` is a subset of it (default: that of ``data.train``).
        on_epoch: called with each epoch's history entry (epoch, loss, test_accuracy,
            seconds, and for an NQ network residual_std: each layer's measured residual,
            its noise in the next epoch), e.g. ``neurosnn.io.tensorboard.Scalars.epoch``.

    Returns:
        The final checkpoint (also on disk when ``out_dir`` is given).
    """
    if not hasattr(model, "spec"):
        raise ValueError("model must come from networks.create_network (it needs a spec)")
    model.to(device)
    opt = _optimizer(model, cfg)
    sched = _scheduler(opt, cfg)
    ckpt_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    start_epoch, history = 0, []
    if resume and ckpt_path is not None and ckpt_path.is_file():
        prev = load_checkpoint(ckpt_path, map_location=device)
        if prev.spec != model.spec:
            raise ResumeMismatch(f"cannot resume: {ckpt_path} holds {prev.spec}, not {model.spec}")
        saved = dict(prev.config or {})
        if saved.get("test_images") is None:  # 0.2 wrote None for all of them
            saved["test_images"] = 0
        changed = {k: (v, asdict(cfg)[k]) for k, v in saved.items() if asdict(cfg)[k] != v}
        if changed:
            said = ", ".join(f"{k} {old!r} → {new!r}" for k, (old, new) in changed.items())
            raise ResumeMismatch(
                f"cannot resume: {ckpt_path} was trained with other settings ({said}); "
                "resume with the same ones or train into a new folder"
            )
        model.load_state_dict(prev.state_dict)
        if prev.optimizer is not None:
            opt.load_state_dict(prev.optimizer)
        if prev.scheduler is not None:
            sched.load_state_dict(prev.scheduler)
        start_epoch, history = prev.epoch, list(prev.history)
    ckpt, data_print = None, fingerprint(data)
    train_print = train_fingerprint or split_fingerprint(data.train)
    test, _ = seeded_subset(data.test, cfg.test_images, cfg.seed)
    residual_images = _residual_images(model, data, cfg.seed)
    for epoch in range(start_epoch, cfg.epochs):
        torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout draws resume exactly
        model.train()
        t0, loss_sum, seen = time.perf_counter(), 0.0, 0
        batches = data.train.batches(cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch)
        total = -(-len(data.train) // cfg.batch_size)
        bar = tqdm(
            batches,
            total=total,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=None if progress else True,  # None: off when not a terminal
            leave=False,
        )
        for i, (x, y) in enumerate(bar):
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"training diverged: the loss is {float(loss.detach())} at epoch "
                    f"{epoch + 1}, batch {i + 1} (lr {cfg.lr}); nothing of this epoch was "
                    "saved; lower the lr"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
            if bar.disable and (i + 1) % max(total // 10, 1) == 0 and i + 1 < total:
                # no bar (not a terminal, or --no-progress): plain lines for a log file
                log.info(
                    "epoch %d: batch %d/%d, loss %.4f", epoch + 1, i + 1, total, loss_sum / seen
                )
        sched.step()
        acc = evaluate(model, test, device=device)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": loss_sum / seen,
                "test_accuracy": acc,
                "seconds": time.perf_counter() - t0,
            }
        )
        if residual_images is not None:  # NQ: the next epoch's noise is this one's residual
            history[-1]["residual_std"] = update_noise(model, residual_images.to(device))
        log.info(
            "epoch %d/%d: loss %.4f  test accuracy %.4f  (%.0f s)",
            epoch + 1,
            cfg.epochs,
            loss_sum / seen,
            acc,
            history[-1]["seconds"],
        )
        ckpt = Checkpoint(
            spec=model.spec,
            state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
            dataset=data.name,
            mean=data.mean,
            std=data.std,
            epoch=epoch + 1,
            test_accuracy=acc,
            history=history,
            optimizer=opt.state_dict(),
            scheduler=sched.state_dict(),
            config=asdict(cfg),
            data_fingerprint=data_print,
            train_fingerprint=train_print,
        )
        if ckpt_path is not None:
            save_checkpoint(ckpt_path, ckpt)
        if on_epoch is not None:
            on_epoch(history[-1])
    if ckpt is None:  # resumed from a finished run
        ckpt = load_checkpoint(ckpt_path)
    model.eval()
    return ckpt
