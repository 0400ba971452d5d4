"""The ``fastbatch`` command line (``python -m fastbatch``)."""

import argparse
import sys
import time

import numpy as np

import fastbatch as fb


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def numpy_shuffled_epoch(X, y, batch_size, seed):
    """The loop people write by hand: one permutation, then fancy indexing per batch."""
    p = np.random.default_rng(seed).permutation(len(X))
    for i in range(0, len(X), batch_size):
        idx = p[i:i + batch_size]
        X[idx], y[idx]


def fastbatch_shuffled_epoch(X, y, batch_size, seed):
    for _ in fb.BatchLoader(X, y, batch_size=batch_size, shuffle=True, rng=seed):
        pass


def run_demo(args, out=sys.stdout):
    rng = np.random.default_rng(0)
    print(f"fastbatch {fb.__version__} demo", file=out)
    print("\n1. Epochs, batches and steps (1500 samples, batch_size=100, 3 epochs)", file=out)
    X = rng.standard_normal((1500, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0])
    loader = fb.BatchLoader(X, y, batch_size=100, shuffle=True, rng=0)
    print(f"   len(loader) = {len(loader)} batches per epoch", file=out)
    for epoch in range(3):
        sizes = [len(yb) for _, yb in loader]
        print(f"   epoch {epoch}: {len(sizes)} batches of {sizes[0]}; "
              f"loader.epoch={loader.epoch}, loader.step={loader.step}", file=out)
    short = fb.BatchLoader(np.arange(10), batch_size=3)
    print(f"   10 samples, batch_size=3: {[len(b) for b in short]}; with drop_last: "
          f"{[len(b) for b in fb.BatchLoader(np.arange(10), batch_size=3, drop_last=True)]}",
          file=out)

    n, d, batch_size = args.samples, 16, 256
    print(f"\n2. One shuffled epoch of (X, y), X {n}x{d} float32, batch_size={batch_size}"
          f" (median of {args.repeats})", file=out)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    t_numpy = _median_time(lambda: numpy_shuffled_epoch(X, y, batch_size, 1), args.repeats)
    t_fast = _median_time(lambda: fastbatch_shuffled_epoch(X, y, batch_size, 1), args.repeats)
    print(f"   {'NumPy loop':<12} {t_numpy * 1e3:9.2f} ms", file=out)
    print(f"   {'fastbatch':<12} {t_fast * 1e3:9.2f} ms   ({t_numpy / t_fast:.1f}x faster)",
          file=out)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastbatch", description="Cython-accelerated mini-batches for NumPy arrays.")
    parser.add_argument("--version", action="version", version=f"fastbatch {fb.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="show epochs/batches/steps and a side-by-side timing",
                          description="Run the main job on a built-in synthetic dataset.")
    demo.add_argument("--samples", type=int, default=1_000_000,
                      help="rows of the synthetic dataset (default 1000000)")
    demo.add_argument("--repeats", type=int, default=5, help="timing repeats (median)")
    demo.set_defaults(func=run_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
