r"""Backward over-smoothing (Keriven 2025) as two experiments of ``python -m dgl_ssm.studies.diagnostics``.

Source: Keriven (2025), "Backward Oversmoothing: why is it hard to train deep
Graph Neural Networks?", arXiv:2505.16736. Its abstract states the two claims
tested here (the theorem numbers were not checked offline):

1. ``kind: backward_smoothing``: "backward errors are subjected to a linear
   oversmoothing even in the presence of non-linear activation function",
   unlike the forward features. Per layer :math:`\ell`, the share of the
   backpropagated error :math:`B_\ell = \partial\mathcal L/\partial H_\ell` and of
   the forward state :math:`H_\ell` outside :math:`\hat A`'s dominant eigenvector
   (:func:`~dgl_ssm.analysis.orthogonal_ratio`), at initialisation and during
   training, for GCN (ReLU and tanh), GCN-SSM (λ = 1) and the MLP control
   (``backward.csv``, ``backward.png``), in ``dtype`` (float64: in float32 a
   deep GCN's errors underflow to exactly 0 near the input, where the ratio is undefined).
2. ``kind: stationary_points``: "as soon as the last layer is trained, the whole
   GNN is at a stationary point", so gradients are near zero while the loss stays
   high; the MLP is the counter-example. Per model and depth: every layer's
   gradient norm at initialisation and after the last layer alone is trained to
   its stationary point (:func:`~dgl_ssm.train.train_last_layer`, in ``dtype``: float64), for GCN,
   the MLP, GCN-SSM and GCN with the paper's own symmetric stochastic propagation (``ds-gcn``), the
   training loss there, and the training loss the whole model reaches when all
   its layers train (``stationary_layers.csv``, ``stationary.csv``, ``stationary.png``).

The training cross-entropy is on the graph's training nodes; training uses
the diagnostic's ``train`` section (by default the shared Planetoid protocol): its optimiser, learning rate,
weight decay, dropout and epochs; not its early stopping (the measurements are at fixed epochs) nor its
activation (each model row names its own).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ..analysis import backward_errors, orthogonal_ratio
from ..data import load_node_graph
from ..experiment import write_csv
from ..models import build_model
from ..transforms import LargestComponent

__all__ = ["backward_models", "stationary_models", "run_backward_smoothing", "run_stationary_points", "validate_training",
           "measured_training", "node_task", "in_eval_mode"]


#: the keys of ``diagnostic.train`` the training kinds read (``patience`` is read as "no early stopping": they train
#: every epoch; ``activation`` only by gradient_oversmoothing, which checks it against ``diagnostic.activation``)
TRAIN_READ = ("lr", "optimizer", "weight_decay", "weight_decay_groups", "dropout", "epochs", "monitor", "hidden",
              "scheduler", "patience")
_WHY_UNREAD = {"precision": "they train in the features' dtype, diagnostic.dtype",
               "activation": "each model row has its own activation",
               "denormals": "they measure vanishing gradients, which flush-to-zero would set to 0 below 1.2e-38"}


def validate_training(d) -> None:
    """Check the keys the two experiments read (called by :func:`~dgl_ssm.studies.diagnostics.validate`).

    Raises
    ------
    ConfigError
        Naming the key: no ``train.lr``; two widths (or two activations for gradient_oversmoothing); more than one graph; a schedule; measurements beyond
        ``train.epochs``; no measured epoch; iterations or epochs below 1; a ``train`` key they do not read, set to
        a value that would change a run that read it (``precision: bf16-mixed``, a typo such as ``learnig_rate``).
    """
    from dataclasses import MISSING, fields

    from ..train.protocol import TrainProtocol
    from .schema import ConfigError, to_container

    # the protocol keys they do not read pass at TrainProtocol's defaults, which change nothing (a protocol file may
    # name them); activation at the shared protocols' relu, where each model row has its own
    neutral = {f.name: f.default_factory() if f.default_factory is not MISSING else f.default
               for f in fields(TrainProtocol) if f.default is not MISSING or f.default_factory is not MISSING}
    neutral.update({} if d.kind == "gradient_oversmoothing" else {"activation": "relu"})
    read = TRAIN_READ + (("activation",) if d.kind == "gradient_oversmoothing" else ())
    for key, value in (to_container(d.train) or {}).items():
        if key in read or (key in neutral and value == neutral[key]):
            continue
        why = _WHY_UNREAD.get(key, "it is not a key they read")
        raise ConfigError(f"diagnostic.train.{key}={value!r}: kind {d.kind} does not read it ({why}), so it would "
                          f"be ignored; remove it (it reads {', '.join(read)})")
    if "lr" not in d.train:
        raise ConfigError(f"diagnostic.train must give at least lr for kind {d.kind} (e.g. the defaults entry "
                          f"/protocol/planetoid_shared@train), got {dict(d.train)}")
    if len(d.graphs) != 1:
        raise ConfigError(f"diagnostic.graphs: kind {d.kind} trains on one graph, got {list(d.graphs)}; "
                          "pass one, e.g. diagnostic.graphs=[cora]")
    if d.train.get("scheduler", "none") != "none":
        raise ConfigError(f"diagnostic.train.scheduler: kind {d.kind} trains without a schedule, got "
                          f"{d.train.scheduler!r}; set diagnostic.train.scheduler=none")
    if not d.measure_epochs or min(d.measure_epochs) < 0:
        raise ConfigError(f"diagnostic.measure_epochs must be a non-empty list of epochs >= 0, got {list(d.measure_epochs)}")
    if d.kind in ("backward_smoothing", "gradient_oversmoothing") and max(d.measure_epochs) > d.train.get("epochs", max(d.measure_epochs)):
        raise ConfigError(f"diagnostic.measure_epochs goes to {max(d.measure_epochs)} but diagnostic.train.epochs "
                          f"is {d.train.epochs}; measure within the training or train longer")
    if "hidden" in d.train and d.train.hidden != d.hidden:
        raise ConfigError(f"diagnostic.hidden ({d.hidden}) and diagnostic.train.hidden ({d.train.hidden}) differ: "
                          "the width is diagnostic.hidden; set both to one value")
    if d.kind == "gradient_oversmoothing" and d.train.get("activation", d.activation) != d.activation:
        raise ConfigError(f"diagnostic.activation ({d.activation}) and diagnostic.train.activation "
                          f"({d.train.activation}) differ: the activation is diagnostic.activation; set both to one value")
    if d.last_layer_iterations < 1 or d.full_epochs < 1:
        raise ConfigError("diagnostic.last_layer_iterations and diagnostic.full_epochs must be >= 1, got "
                          f"{d.last_layer_iterations} and {d.full_epochs}")


def backward_models(input_scale: float) -> dict:
    """Display name -> (preset, builder options) of the backward-smoothing experiment."""
    ssm = {"block_options": {"state_transition": 1.0, "input_matrix": input_scale}}
    return {"GCN (ReLU)": ("gcn", {"activation": "relu"}), "GCN (tanh)": ("gcn", {"activation": "tanh"}),
            "GCN-SSM λ=1.0": ("gcn-ssm", {"activation": "relu", **ssm}), "MLP (ReLU)": ("mlp", {"activation": "relu"})}


def stationary_models(input_scale: float) -> dict:
    """Display name -> (preset, builder options) of the stationary-point experiment: those of
    :func:`backward_models` and GCN with the paper's symmetric stochastic propagation (``ds-gcn``)."""
    table = backward_models(input_scale)
    return {**{name: table[name] for name in ("GCN (ReLU)", "MLP (ReLU)", "GCN-SSM λ=1.0")},
            "GCN, stochastic P (ReLU)": ("ds-gcn", {"activation": "relu"})}


#: the dominant eigenvector a preset's propagation keeps (dgl_ssm.analysis.dominant_eigenvectors); default symmetric
PROPAGATION = {"ds-gcn": "stochastic"}


def node_task(d, device, data_root, data_dir) -> tuple:
    """The training kinds' task: ``(graph, feat, loss_fn, classes)``. The graph of ``d.graphs[0]`` (its largest
    connected component with ``d.largest_component``) on ``device``, its features in ``d.dtype`` (the three
    configurations say float64: in float32 a deep GCN's errors underflow to exactly 0 near the input, and L-BFGS
    stalls near a 1e-5 gradient), and the training cross-entropy of an output ``(N, classes)``."""
    graph = load_node_graph(d.graphs[0], root=data_root, data_dir=data_dir)
    if d.largest_component:
        graph = LargestComponent()(graph)
    graph = graph.to(device)
    graph.ndata["feat"] = graph.ndata["feat"].to(getattr(torch, d.dtype))
    mask, label = graph.ndata["train_mask"].bool(), graph.ndata["label"]
    return graph, graph.ndata["feat"], lambda out: F.cross_entropy(out[mask], label[mask]), int(label.max()) + 1


def _measure(model, graph, feat, loss_fn, propagation: str = "symmetric") -> tuple:
    """Eval-mode loss, per-layer (error ratio, error norm, state ratio, state norm) and block gradient norms; the
    ratios against the dominant eigenvector of ``propagation``."""
    loss, errors, norms, states = in_eval_mode(model, lambda: backward_errors(model, graph, feat, loss_fn,
                                                                             return_states=True))
    layers = [{"layer": i, "error_ratio": orthogonal_ratio(graph, e, propagation), "error_norm": float(e.norm()),
               "state_ratio": orthogonal_ratio(graph, s, propagation), "state_norm": float(s.norm()),
               "grad_norm": norms[i - 1] if i > 0 else float("nan")} for i, (e, s) in enumerate(zip(errors, states))]
    return float(loss), layers


def _optimizer(model, train):
    from ..train import make_optimizer

    return make_optimizer(model, name=train.get("optimizer", "adam"), lr=train["lr"],
                          weight_decay=train.get("weight_decay", 0.0),
                          weight_decay_groups=dict(train.get("weight_decay_groups") or {}))


def measured_training(d, table: dict, task: tuple, device, measure, log_model) -> list:
    """Train every model of ``table`` at every depth of ``d`` and measure it along the way; the rows of all.

    Per depth and model: seed ``d.seed``, build at width ``d.hidden`` with ``train.dropout`` in the features' dtype,
    train ``train.epochs`` epochs with the optimiser of ``d.train`` (no early stopping: ``train.patience`` unused;
    divergence recorded), and after each epoch of ``d.measure_epochs`` (0: before training) add
    ``{graph, depth, model, epoch, train_loss, **layer}`` for every ``layer`` of ``measure(model) -> (loss,
    layers)``. ``log_model(depth, name, rows)`` reports each model when it is done."""
    from ..train import NodeClassificationTask, Trainer

    graph, feat, _, classes = task
    train = dict(d.train)
    wanted = sorted(set(d.measure_epochs))
    epochs = int(train.get("epochs", max(wanted)))
    rows = []
    for depth in d.depths:
        for name, (preset, options) in table.items():
            torch.manual_seed(d.seed)
            model = build_model(preset, feat.shape[1], d.hidden, classes, depth, dropout=train.get("dropout", 0.0),
                                **options).to(device, feat.dtype)

            def record(epoch: int) -> None:
                loss, layers = measure(model)
                rows.extend({"graph": d.graphs[0], "depth": depth, "model": name, "epoch": epoch, "train_loss": loss,
                             **r} for r in layers)

            if 0 in wanted:
                record(0)
            trainer = Trainer(model, NodeClassificationTask(graph), _optimizer(model, train),
                              max_epochs=epochs, patience=epochs + 1, progress=False,
                              monitor=train.get("monitor", "metric"),
                              on_epoch_end=lambda epoch, _: record(epoch + 1) if epoch + 1 in wanted else None)
            trainer.fit(on_divergence="record")
            log_model(depth, name, rows)
    return rows


def in_eval_mode(model, fn):
    """``fn()`` with ``model`` in eval mode (no dropout), its mode restored after."""
    was_training = model.training
    model.eval()
    try:
        return fn()
    finally:
        model.train(was_training)


def run_backward_smoothing(d, out: Path, device, data_root, data_dir, log) -> list:
    """Experiment 1 (see the module docstring); returns the rows of ``backward.csv``."""
    task = node_task(d, device, data_root, data_dir)
    graph, feat, loss_fn, _ = task

    def log_model(depth, name, rows):
        first = [r for r in rows if r["model"] == name and r["depth"] == depth and r["layer"] == 1]
        log(f"  L={depth:3d} {name:16s} error ratio at layer 1: " +
            ", ".join(f"epoch {r['epoch']} {r['error_ratio']:.3g}" for r in first))

    rows = measured_training(d, backward_models(d.input_scale), task, device,
                             lambda model: _measure(model, graph, feat, loss_fn), log_model)
    write_csv(out / "backward.csv", rows)
    _plot_backward(rows, d, out / "backward.png")
    return rows


def _plot_backward(rows: list, d, path: Path) -> None:
    import matplotlib.pyplot as plt  # the caller chooses the backend; files only here

    names = list(backward_models(d.input_scale))
    for depth in d.depths:
        fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), sharey=True)
        for ax, name in zip(axes, names):
            part = [r for r in rows if r["model"] == name and r["depth"] == depth]
            epochs = sorted({r["epoch"] for r in part})
            colours = plt.cm.viridis([i / max(1, len(epochs) - 1) for i in range(len(epochs))])
            for colour, epoch in zip(colours, epochs):
                at = [r for r in part if r["epoch"] == epoch]
                ax.plot([r["layer"] for r in at], [r["error_ratio"] for r in at], color=colour, label=f"∂L/∂H, epoch {epoch}")
                ax.plot([r["layer"] for r in at], [r["state_ratio"] for r in at], color=colour, ls="--", alpha=0.7)
            ax.set_yscale("log")
            ax.set_title(f"{name}, {depth} layers", fontsize=9)
            ax.set_xlabel("layer ℓ")
        axes[0].set_ylabel("‖(I − Π)X‖ / ‖X‖")
        axes[-1].legend(fontsize=7)
        fig.suptitle("share outside Â's dominant eigenvector D^1/2 1; solid: backward error ∂L/∂H_ℓ, dashed: state H_ℓ",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(path.with_name(f"{path.stem}_{depth}{path.suffix}") if len(d.depths) > 1 else path, dpi=110)
        plt.close(fig)


def run_stationary_points(d, out: Path, device, data_root, data_dir, log) -> list:
    """Experiment 2 (see the module docstring); returns the rows of ``stationary.csv`` (one per model and depth)."""
    from ..train import NodeClassificationTask, Trainer, train_last_layer

    graph, feat, loss_fn, classes = node_task(d, device, data_root, data_dir)
    train = dict(d.train)
    layers_rows, rows = [], []
    for depth in d.depths:
        for name, (preset, options) in stationary_models(d.input_scale).items():
            torch.manual_seed(d.seed)
            model = build_model(preset, feat.shape[1], d.hidden, classes, depth, **options).to(device, feat.dtype)
            propagation = PROPAGATION.get(preset, "symmetric")
            loss_init, at_init = _measure(model, graph, feat, loss_fn, propagation)
            fit = train_last_layer(model, graph, feat, loss_fn, max_iter=d.last_layer_iterations)
            loss_fit, at_fit = _measure(model, graph, feat, loss_fn, propagation)
            for stage, layers in (("init", at_init), ("last layer trained", at_fit)):
                layers_rows.extend({"graph": d.graphs[0], "depth": depth, "model": name, "stage": stage, **r}
                                   for r in layers)
            torch.manual_seed(d.seed)  # the same initial model, every layer trained (no dropout, no decay)
            full = build_model(preset, feat.shape[1], d.hidden, classes, depth, **options).to(device, feat.dtype)
            trainer = Trainer(full, NodeClassificationTask(graph), _optimizer(full, {**train, "weight_decay": 0.0, "weight_decay_groups": {}}),
                              max_epochs=d.full_epochs, patience=d.full_epochs + 1, progress=False, monitor="loss")
            trainer.fit(on_divergence="record")
            loss_full, _ = _measure(full, graph, feat, loss_fn, propagation)
            grads_init = [r["grad_norm"] for r in at_init if r["layer"] > 0]
            grads_fit = [r["grad_norm"] for r in at_fit if r["layer"] > 0]
            row = {"graph": d.graphs[0], "depth": depth, "model": name, "loss_init": loss_init,
                   "loss_last_layer": loss_fit, "loss_all_layers": loss_full, "chance_loss": math.log(classes),
                   "decoder_grad_max": fit["decoder_grad_max"], "lbfgs_iterations": fit["iterations"],
                   "grad_max_init": max(grads_init), "grad_max_last_layer": max(grads_fit),
                   "grad_ratio": max(grads_fit) / max(grads_init),
                   "error_ratio_layer1_init": at_init[1]["error_ratio"], "error_ratio_layer1_last_layer": at_fit[1]["error_ratio"],
                   # scale-free: the backpropagated error at the first block relative to the last (the decoder's
                   # weights grow while it is fitted, and every error with them), and the share of the last block's
                   # error along D^1/2 1, the part that survives backward smoothing
                   "error_first_over_last_init": at_init[1]["error_norm"] / at_init[-1]["error_norm"],
                   "error_first_over_last_last_layer": at_fit[1]["error_norm"] / at_fit[-1]["error_norm"],
                   "dominant_share_last_init": math.sqrt(max(0.0, 1.0 - at_init[-1]["error_ratio"] ** 2)),
                   "dominant_share_last_last_layer": math.sqrt(max(0.0, 1.0 - at_fit[-1]["error_ratio"] ** 2))}
            rows.append(row)
            log(f"  L={depth:3d} {name:16s} loss {loss_init:.3f} -> {loss_fit:.3f} (last layer) / {loss_full:.3f} "
                f"(all layers); max block gradient {row['grad_max_init']:.2e} -> {row['grad_max_last_layer']:.2e}")
    write_csv(out / "stationary_layers.csv", layers_rows)
    write_csv(out / "stationary.csv", rows)
    _plot_stationary(layers_rows, d, out / "stationary.png")
    return rows


def _plot_stationary(rows: list, d, path: Path) -> None:
    import matplotlib.pyplot as plt  # the caller chooses the backend; files only here

    names = list(stationary_models(d.input_scale))
    fig, axes = plt.subplots(1, len(d.depths), figsize=(5.0 * len(d.depths), 3.8), squeeze=False)
    for ax, depth in zip(axes[0], d.depths):
        for i, name in enumerate(names):
            for stage, style in (("init", ":"), ("last layer trained", "-")):
                part = [r for r in rows if r["model"] == name and r["depth"] == depth and r["stage"] == stage
                        and r["layer"] > 0]
                ax.plot([r["layer"] for r in part], [max(r["grad_norm"], 1e-300) for r in part], ls=style,
                        color=f"C{i}", label=f"{name}, {stage}")
        ax.set_yscale("log")
        ax.set_xlabel("layer ℓ")
        ax.set_ylabel("‖∂L/∂W_ℓ‖")
        ax.set_title(f"{d.graphs[0]}, {depth} layers", fontsize=9)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
