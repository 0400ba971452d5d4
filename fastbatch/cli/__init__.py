"""The ``fastbatch`` command line: ``demo``, ``bench`` and ``fit``.

Errors a user can fix (a missing file, an unknown column, a diverging learning rate...)
end with a one-line message on stderr and exit status 2, and leave no output file.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import fastbatch as fb
from fastbatch.cli.datafile import DataFileError, load_table
from fastbatch.cli.outputfile import (OutputFileError, check_output_paths, json_writer,
                                  write_outputs)
from fastbatch._validation import PY_SSIZE_T_MAX, check_int

EXIT_USAGE = 2


class CommandError(Exception):
    """A problem reported to the user as one line, exit status 2."""


class ProgressBar:
    """A one-line progress bar on a terminal; a few plain lines when piped."""

    def __init__(self, total, label, stream=sys.stderr, width=30):
        self.total, self.label, self.stream, self.width = max(total, 1), label, stream, width
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last_tenth = -1

    def update(self, done, note=""):
        if self.tty:
            filled = int(self.width * done / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {note}")
            if done >= self.total:
                self.stream.write("\n")
        else:
            tenth = 10 * done // self.total
            if tenth != self.last_tenth:
                self.last_tenth = tenth
                self.stream.write(f"{self.label} {done}/{self.total} {note}\n")
        self.stream.flush()


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CommandError("plotting needs matplotlib: pip install 'fastbatch[plot]' "
                           "(or pip install matplotlib)") from None
    return plt


# ---------------------------------------------------------------------------------------
# fastbatch demo

def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_demo(args, out):
    rng = np.random.default_rng(0)
    print(f"fastbatch {fb.__version__} demo\n", file=out)

    print("1. Epochs, batches and steps: 1500 samples, batch_size=100, 3 epochs", file=out)
    X = rng.standard_normal((1500, 4))
    loader = fb.BatchLoader(X, np.arange(1500), batch_size=100, shuffle=True, rng=0)
    print(f"   len(loader) = {len(loader)} batches per epoch", file=out)
    for _ in range(3):
        sizes = [len(yb) for _, yb in loader]
        print(f"   epoch done: {len(sizes)} batches of {sizes[0]}  ->  loader.epoch = "
              f"{loader.epoch}, loader.step = {loader.step}", file=out)
    tail = [len(b) for b in fb.BatchLoader(np.arange(10), batch_size=3)]
    dropped = [len(b) for b in fb.BatchLoader(np.arange(10), batch_size=3, drop_last=True)]
    print(f"   10 samples, batch_size=3: batches {tail}; with drop_last: {dropped}\n",
          file=out)

    n, d = args.samples, 8
    print(f"2. MiniBatchSGDRegressor on {n} x {d} synthetic features of wildly different "
          "scales and offsets", file=out)
    scales = np.logspace(-2, 3, d)
    offsets = rng.uniform(-5, 5, d) * scales
    X = rng.standard_normal((n, d)) * scales + offsets
    true_coef = rng.uniform(-3, 3, d) / scales
    y = X @ true_coef + 2.5 + 0.01 * rng.standard_normal(n)
    est = fb.MiniBatchSGDRegressor(batch_size=64, learning_rate=0.05, lr_decay=0.05,
                                   epochs=args.epochs, random_state=0)
    bar = ProgressBar(args.epochs, "   training", stream=out)
    losses = []

    def progress(epoch, loss):
        losses.append(loss)
        bar.update(epoch + 1, f"loss {loss:.6g}")

    start = time.perf_counter()
    est.fit(X, y, progress=progress)
    seconds = time.perf_counter() - start
    print(f"   {est.n_epochs_} epochs, {est.n_steps_} steps in {seconds:.2f} s; loss per "
          f"epoch: {', '.join(f'{v:.4g}' for v in losses[:5])} ... {losses[-1]:.4g}", file=out)
    print(f"   R^2 = {est.score(X, y):.6f}", file=out)
    print(f"   {'feature':>8} {'true coef':>12} {'learned':>12}", file=out)
    for j in range(d):
        print(f"   {j:>8} {true_coef[j]:>12.5g} {est.coef_[j]:>12.5g}", file=out)
    print(f"   {'intercept':>8} {2.5:>12.5g} {est.intercept_:>12.5g}\n", file=out)

    print(f"3. Side by side, median of {args.repeats} runs", file=out)
    from fastbatch._bench import demo_cases
    print(f"   {'task':<52} {'NumPy':>9} {'fastbatch':>10} {'speed-up':>9}", file=out)
    for name, numpy_fn, fast_fn in demo_cases(quick=args.samples < 200_000):
        t_numpy = _median_time(numpy_fn, args.repeats)
        t_fast = _median_time(fast_fn, args.repeats)
        print(f"   {name:<52} {t_numpy * 1e3:>7.1f}ms {t_fast * 1e3:>8.1f}ms "
              f"{t_numpy / t_fast:>8.1f}x", file=out)
    return 0


# ---------------------------------------------------------------------------------------
# fastbatch bench

def run_bench(args, out):
    from fastbatch._bench import (all_cases, all_measures, all_series, format_report,
                                  run_report)
    from fastbatch._bench.plot import draw_report
    check_output_paths(args.json, args.plot)
    plt = _pyplot() if args.plot else None     # fail before minutes of measuring
    cases, series, measures = all_cases(), all_series(), all_measures()
    if args.only is not None:
        cases = [case for case in cases if args.only in case.group]
        series = [s for s in series if args.only in s.name]
        measures = [m for m in measures if args.only in m.group]
        if not cases and not series and not measures:
            groups = [c.group for c in all_cases()] + [m.group for m in all_measures()]
            raise CommandError(f"--only {args.only!r} matches no case group and no series; "
                               f"groups are: {', '.join(groups)}")
    bar = ProgressBar(1, "measuring", stream=sys.stderr)

    def progress(done, total, name):
        bar.total = max(total, 1)
        bar.update(done, name)

    report = run_report(quick=args.quick, huge=args.huge, progress=progress, cases=cases,
                        series=series, measures=measures)
    print(format_report(report), file=out)
    writers = []
    if args.json:
        writers.append((args.json, json_writer(report)))
    if args.plot:
        writers.append((args.plot, lambda tmp: draw_report(report, tmp, plt)))
    write_outputs(writers, out)
    return 0


# ---------------------------------------------------------------------------------------
# fastbatch fit

def run_fit(args, out):
    # Features that are not one view of the data file (a target column in the middle, a
    # Parquet file) are written to a scratch file next to the system's temporary files,
    # read memory-mapped like the data: a file larger than memory trains.
    with tempfile.TemporaryDirectory(prefix="fastbatch-fit-") as scratch:
        return _fit(args, out, scratch)


def _fit(args, out, scratch):
    check_output_paths(args.out, args.plot, inputs=[args.data])
    if args.early_stopping and args.tol is None:
        raise CommandError("--early-stopping needs --tol: training stops once the "
                           "validation R^2 has not improved by tol for 5 epochs")
    try:
        X, y, weights, features, target = load_table(args.data, args.target,
                                                      args.sample_weight, scratch)
    except DataFileError as exc:
        raise CommandError(str(exc)) from None
    if args.plot:
        _pyplot()
    est = fb.MiniBatchSGDRegressor(
        batch_size=args.batch_size, learning_rate=args.learning_rate,
        lr_decay=args.lr_decay, epochs=args.epochs, alpha=args.alpha,
        standardize=not args.no_standardize, shuffle=True, random_state=args.seed,
        tol=args.tol, early_stopping=args.early_stopping,
        shuffle_method=args.shuffle_method, block_size=args.block_size,
        shuffle_window=args.shuffle_window,
        penalty=None if args.penalty == "none" else args.penalty, l1_ratio=args.l1_ratio,
        loss=args.loss, epsilon=args.epsilon, average=args.average,
        lr_schedule=args.lr_schedule, power_t=args.power_t)
    bar = ProgressBar(args.epochs, "training", stream=sys.stderr)

    def progress(epoch, loss):
        if not args.quiet:
            bar.update(epoch + 1, f"loss {loss:.6g}")

    start = time.perf_counter()
    try:
        est.fit(X, y, sample_weight=weights, progress=progress)
    except fb.TrainingDivergedError as exc:
        raise CommandError(_divergence_message(exc)) from None
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    seconds = time.perf_counter() - start
    r2 = est.score(X, y, sample_weight=weights)
    stopped = f", stopped early by --tol {args.tol:g}" if est.n_iter_ < args.epochs else ""
    print(f"fitted {len(y)} samples x {len(features)} features -> {target!r} in "
          f"{seconds * 1e3:.1f} ms ({est.n_epochs_} epochs, {est.n_steps_} steps{stopped})",
          file=out)
    print(f"final loss {est.loss_history_[-1]:.6g}, R^2 {r2:.6f}", file=out)
    width = max(len(name) for name in features + ["intercept"])
    for name, c in zip(features, est.coef_):
        print(f"  {name:<{width}}  {c: .8g}", file=out)
    print(f"  {'intercept':<{width}}  {est.intercept_: .8g}", file=out)
    model = {
        "fastbatch_version": fb.__version__,
        "data": _data_path_from(args.out, args.data) if args.out else args.data,
        "target": target,
        "sample_weight": args.sample_weight,
        "features": features,
        "coef": est.coef_.tolist(),
        "intercept": est.intercept_,
        "loss_history": est.loss_history_.tolist(),
        "r2": r2,
        "n_samples": int(len(y)),
        "params": est.get_params(),
    }
    writers = []
    if args.out:
        writers.append((args.out, json_writer(model)))
    if args.plot:
        writers.append((args.plot,
                        lambda tmp: _plot_loss(est.loss_history_, target, tmp)))
    write_outputs(writers, out)
    return 0


def _divergence_message(exc):
    """Say where training diverged from the exception's attributes, never its text."""
    if exc.cause == "data":
        return exc.summary
    return (f"training diverged at epoch {exc.epoch} (learning rate "
            f"{exc.epoch_learning_rate:g}): the loss became non-finite; try a smaller "
            f"--learning-rate than {exc.learning_rate:g}")


def _data_path_from(model_path, data_path):
    """The data file as the model file names it: relative to the model's folder, so the
    model carries no home directory and still finds its data when both move together; an
    absolute path stays as the user gave it."""
    if os.path.isabs(data_path):
        return data_path
    return os.path.relpath(os.path.abspath(data_path),
                           os.path.dirname(os.path.abspath(model_path)))


def _plot_loss(history, target, path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(history) + 1), history, marker="." if len(history) < 60 else None)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("objective J")
    ax.set_title(f"fastbatch fit: loss per epoch (target {target!r})")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------

def _tolerance(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _positive_int(text):
    # Counts end up in C Py_ssize_t variables: reject what does not fit here, as one line.
    try:
        return check_int(int(text), "the value", minimum=1, maximum=PY_SSIZE_T_MAX)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer of at most {PY_SSIZE_T_MAX}, got {text!r}") from None


def _average(text):
    # --average alone is True (from the first step); a value is the step to start from.
    try:
        return check_int(int(text), "the value", minimum=0, maximum=PY_SSIZE_T_MAX)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected the step to average from (an integer >= 0), got {text!r}") from None


def _seed(text):
    # Seeds are any non-negative int (not a count: no upper bound).
    try:
        return check_int(int(text), "the value", minimum=0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer, got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default prints the usage block first)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="fastbatch",
        description="Cython-accelerated mini-batches for NumPy arrays: the demo, the "
                    "benchmark report, and mini-batch SGD linear regression on a file.")
    parser.add_argument("--version", action="version", version=f"fastbatch {fb.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="the main job on a built-in synthetic dataset",
        description="Show a loader's epochs, batches and steps; train MiniBatchSGDRegressor "
                    "with a progress bar; compare learned and true coefficients; time "
                    "fastbatch against the NumPy loops people write by hand.")
    demo.add_argument("--samples", type=_positive_int, default=200_000,
                      help="rows of the synthetic training set (default: 200000)")
    demo.add_argument("--epochs", type=_positive_int, default=20,
                      help="training epochs (default: 20)")
    demo.add_argument("--repeats", type=_positive_int, default=5,
                      help="timing repeats; medians are shown (default: 5)")
    demo.set_defaults(func=run_demo)

    bench = sub.add_parser(
        "bench", help="the side-by-side benchmark report (ratios vs NumPy)",
        description="Time every row of the performance contract against its "
                    "NumPy baseline (and PyTorch / scikit-learn when installed) and print "
                    "medians, ratios and the floor each ratio must meet.")
    bench.add_argument("--quick", action="store_true",
                       help="smaller sizes and fewer repeats (well under a minute)")
    bench.add_argument("--huge", action="store_true",
                       help="add the 1e9-element permutations to the scaling table "
                            "(about 20 GB of memory)")
    bench.add_argument("--only", metavar="TEXT",
                       help="run only the cases and series whose group or name contains TEXT")
    bench.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    bench.add_argument("--plot", metavar="FILE.png",
                       help="also draw the ratios, the efficiency rows and the scaling "
                            "table (needs matplotlib)")
    bench.set_defaults(func=run_bench)

    fit = sub.add_parser(
        "fit", help="train MiniBatchSGDRegressor on a .csv, .npy, .npz or .parquet file",
        description="Fit linear regression by fused mini-batch SGD. DATA is a .csv with a "
                    "header row (COLUMN is a column name), a 2-D .npy array (COLUMN is a "
                    "column index), an .npz of named 1-D columns or a .parquet file of "
                    "numeric columns (read through fastbatch.open_files).")
    fit.add_argument("data", metavar="DATA", help="the training table")
    fit.add_argument("--target", required=True, metavar="COLUMN",
                     help="the column to predict (name or 0-based index)")
    fit.add_argument("--batch-size", type=_positive_int, default=32)
    fit.add_argument("--epochs", type=_positive_int, default=100)
    fit.add_argument("--learning-rate", type=float, default=0.01)
    fit.add_argument("--lr-decay", type=float, default=0.0,
                     help="learning rate of epoch e: learning_rate / (1 + lr_decay * e)")
    fit.add_argument("--alpha", type=float, default=0.0,
                     help="penalty strength (default: 0)")
    fit.add_argument("--penalty", choices=("l2", "l1", "elasticnet", "none"), default="l2",
                     help="the penalty alpha weighs (default: l2; l1 and elasticnet make "
                          "irrelevant coefficients exactly 0)")
    fit.add_argument("--l1-ratio", type=float, default=0.15,
                     help="elasticnet: the L1 share of the penalty, in [0, 1] (default: "
                          "0.15)")
    fit.add_argument("--loss", default="squared_error",
                     choices=("squared_error", "huber", "epsilon_insensitive",
                              "squared_epsilon_insensitive"),
                     help="the loss of a residual, as scikit-learn's SGDRegressor "
                          "(default: squared_error; huber is robust to outliers)")
    fit.add_argument("--epsilon", type=float, default=0.1,
                     help="huber and the epsilon-insensitive losses: their threshold "
                          "(default: 0.1)")
    fit.add_argument("--average", type=_average, nargs="?", const=True, default=False,
                     metavar="STEP",
                     help="report the average of the iterates (ASGD), from the first step "
                          "or from step STEP on")
    fit.add_argument("--lr-schedule", default="epoch_decay",
                     choices=("epoch_decay", "constant", "invscaling", "adaptive"),
                     help="epoch_decay: learning_rate / (1 + lr_decay e) (default); "
                          "invscaling: learning_rate / t**power_t, t in steps; adaptive: "
                          "divided by 5 whenever --tol is not met for 5 epochs")
    fit.add_argument("--power-t", type=float, default=0.25,
                     help="invscaling: the exponent (default: 0.25)")
    fit.add_argument("--no-standardize", action="store_true",
                     help="fit on the raw features instead of standardised ones")
    fit.add_argument("--seed", type=_seed, default=0, help="shuffling seed (default: 0)")
    fit.add_argument("--shuffle-method", choices=("exact", "bijective", "block"),
                     default="exact", help="how each epoch's rows are ordered (default: "
                     "exact; block reads memory-mapped data in runs of rows)")
    fit.add_argument("--block-size", type=_positive_int, metavar="ROWS",
                     help="block shuffle: rows per block (default: about 1 MiB of rows)")
    fit.add_argument("--shuffle-window", type=_positive_int, default=16, metavar="BLOCKS",
                     help="block shuffle: blocks whose rows are mixed (default: 16)")
    fit.add_argument("--sample-weight", metavar="COLUMN",
                     help="the column of non-negative sample weights (name or 0-based "
                          "index), not a feature: batch gradients, the loss and the "
                          "standardisation are weighted")
    fit.add_argument("--tol", type=_tolerance, metavar="TOL",
                     help="stop once the training loss has not improved by TOL for 5 "
                          "epochs in a row, as scikit-learn's SGDRegressor (default: run "
                          "all --epochs)")
    fit.add_argument("--early-stopping", action="store_true",
                     help="hold out 10%% of the rows and stop on their R^2 instead of the "
                          "training loss (needs --tol), as scikit-learn's SGDRegressor")
    fit.add_argument("--out", metavar="MODEL.json", help="write the model as JSON")
    fit.add_argument("--plot", metavar="LOSS.png", help="draw the loss against epochs")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(func=run_fit)
    return parser


def main(argv=None, out=None):
    out = sys.stdout if out is None else out
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(out)
        return EXIT_USAGE
    try:
        return args.func(args, out)
    except (CommandError, OutputFileError) as exc:
        print(f"fastbatch {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fastbatch: interrupted", file=sys.stderr)
        return 130
