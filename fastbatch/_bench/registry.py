"""The benchmark registry: what a case is, and where the cases come from.

A *case module* is any module of :mod:`fastbatch._bench` that defines ``CASES`` (a list
of :class:`Case`, ratio rows against a baseline), ``SERIES`` (a list of
:class:`Series`, rows of the scaling table) and/or ``MEASURES`` (a list of
:class:`Measure`, rows measured in other units than time: a loss, memory); ``REPORT_ORDER`` (default 100) places its
rows in the report.  Adding an area (``bijection.py``, ``arrow.py``) is adding such a
module: nothing else changes.  Case modules use only fastbatch's public names (``fb.*``),
so the report keeps working from an installed package whatever the internals become.
"""

import dataclasses
import importlib
import importlib.util
import pkgutil
from typing import Callable, Optional

SEED = 12345

# Modules of this package that are machinery, not cases.
MACHINERY = frozenset({"registry", "timing", "report", "plot", "limits", "data"})


@dataclasses.dataclass(frozen=True)
class Traffic:
    """The bytes a call must read at least: ``passes`` reads of each array's rows.

    ``pieces`` holds one ``(rows, row_bytes)`` pair per array (X, y, ...); the efficiency
    rows compare a case's bytes per second with bare loops reading arrays of those shapes.
    """

    pieces: tuple
    passes: int = 1

    @property
    def bytes(self):
        """Bytes read by one call."""
        return self.passes * sum(rows * row_bytes for rows, row_bytes in self.pieces)


class _Sized:
    """What every row with a full and a quick size shares (``title``, ``n``,
    ``quick_n``, ``requires``)."""

    def size(self, quick=False):
        """Sample count to run: ``quick_n`` in quick mode, else ``n``."""
        return self.quick_n if quick else self.n

    def name(self, quick=False):
        """Row label for the sample count run, e.g. ``"permutation n=1e7"``."""
        return self.title.format(n=format_count(self.size(quick)))

    def missing_modules(self):
        """The modules in ``requires`` that cannot be imported here."""
        return [m for m in self.requires if not _importable(m)]


@dataclasses.dataclass(frozen=True)
class Case(_Sized):
    """One benchmark: fastbatch against one baseline on data of ``n`` samples.

    Parameters
    ----------
    group : str
        Stable id, unique among all cases: the pytest-benchmark group and test id.
    title : str
        Row label in the report; ``{n}`` is replaced by the sample count actually run.
    suite : str
        Which ``bench/test_bench_<suite>.py`` runs the case ("permutation", "epoch", ...).
    setup : callable
        ``setup(n)`` builds the data and returns ``{baseline: f, "fastbatch": g}``, two
        callables without arguments doing the same job, returning comparable results.
    n, quick_n : int
        Sample count of the full run (the size the performance contract names) and of quick mode.
    floor, goal : float or None
        Required and targeted speedup (baseline time / fastbatch time) from the performance contract;
        ``floor=None`` marks an informational row.
    design_row : str or None
        The performance contract row this case measures.
    baseline : str, default "numpy"
        Key of the baseline callable returned by ``setup``.
    repeats : int, default 7
        Timed rounds of the full run (the median is reported).
    requires : tuple of str, default ()
        Modules the case needs; without them it is skipped, not failed.
    traffic : callable, optional
        ``traffic(n) -> Traffic``: the bytes one call reads.  Cases with it get an
        efficiency row (bytes/s against the bare random-row and sequential reads).
    efficiency_goal : float, optional
        Goal for fastbatch's bytes/s as a fraction of the bare 2-thread random-row read.
    capped : callable, optional
        ``capped(result) -> bool``: whether a call stopped at its cap instead of finishing
        the job (a baseline that never reaches a target loss).  The report then shows the
        ratio as a lower bound and, for fastbatch itself, as a failure.

    Examples
    --------
    >>> case = Case(group="sum", title="sum n={n}", suite="demo", n=10**6, quick_n=100,
    ...             setup=lambda n: {"numpy": lambda: n, "fastbatch": lambda: n},
    ...             floor=4.0, goal=8.0, design_row=None)
    >>> case.name(), case.name(quick=True), case.implementations
    ('sum n=1e6', 'sum n=100', ('numpy', 'fastbatch'))
    """

    group: str
    title: str
    suite: str
    setup: Callable[[int], dict]
    n: int
    quick_n: int
    floor: Optional[float]
    goal: Optional[float]
    design_row: Optional[str]
    baseline: str = "numpy"
    repeats: int = 7
    requires: tuple = ()
    traffic: Optional[Callable[[int], Traffic]] = None
    efficiency_goal: Optional[float] = None
    capped: Optional[Callable[[object], bool]] = None

    @property
    def implementations(self):
        """The keys ``setup`` returns: ``(baseline, "fastbatch")``."""
        return (self.baseline, "fastbatch")

    def rounds(self, quick=False, repeats=None):
        """Timed rounds: ``repeats`` if given, else the case's (at most 5 when quick)."""
        if repeats is not None:
            return repeats
        return min(self.repeats, 5) if quick else self.repeats

def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:
        # A module blocked with sys.modules[name] = None has no spec.
        return False


@dataclasses.dataclass(frozen=True)
class Series:
    """A row of the scaling table: the cost of one operation as the size ``n`` grows.

    Parameters
    ----------
    name : str
        Row label, e.g. ``"permutation int64"``.
    setup : callable
        ``setup(n)`` builds the data and returns a callable without arguments.
    sizes, quick_sizes : tuple of int
        The ``n`` of the full and of the quick run.
    huge_sizes : tuple of int, default ()
        Extra sizes of the opt-in ``--huge`` run (gigabytes of memory).
    per : str, default "element"
        What ``n`` counts; the table shows nanoseconds per one of them.
    elements : callable, optional
        ``elements(n)``: how many of them one call handles (default ``n``), for sizes
        too large to handle whole (a sample of positions of a 1e12 permutation).

    Examples
    --------
    >>> s = Series("sum", lambda n: (lambda: sum(range(n))), (10**3, 10**4), (10**3,))
    >>> s.sizes_to_run(quick=True), s.sizes_to_run(huge=True)
    ((1000,), (1000, 10000))
    """

    name: str
    setup: Callable[[int], Callable]
    sizes: tuple
    quick_sizes: tuple
    huge_sizes: tuple = ()
    per: str = "element"
    elements: Optional[Callable[[int], int]] = None

    def sizes_to_run(self, quick=False, huge=False):
        """The sizes of this run: quick ones, full ones, or full plus huge ones."""
        if quick:
            return tuple(self.quick_sizes)
        return tuple(self.sizes) + (tuple(self.huge_sizes) if huge else ())


@dataclasses.dataclass(frozen=True)
class Measure(_Sized):
    """A row measured in other units than time: a loss against the exact shuffle's, the
    memory an epoch holds.

    Parameters
    ----------
    group, title, suite, n, quick_n, design_row, requires
        As for :class:`Case`.
    measure : callable
        ``measure(n)`` returns ``{"value": float, "baseline": float or None, "unit":
        str, "details": [str, ...]}`` (details: lines printed under the row, a small
        table of other settings).
    bound : str
        The contract's floor in words ("within 1% of exact", "<= 96 MiB").
    passes, reaches_goal : callable
        ``passes(result)``, ``reaches_goal(result)``: whether the floor and the goal hold
        (``reaches_goal=None``: the row has no goal).

    Examples
    --------
    >>> m = Measure(group="one", title="one n={n}", suite="demo", n=10, quick_n=2,
    ...             measure=lambda n: {"value": 1.0, "baseline": None, "unit": "",
    ...                                "details": []},
    ...             bound="<= 2", passes=lambda r: r["value"] <= 2, design_row=None)
    >>> m.name(quick=True)
    'one n=2'
    """

    group: str
    title: str
    suite: str
    measure: Callable[[int], dict]
    n: int
    quick_n: int
    bound: str
    passes: Callable[[dict], bool]
    design_row: Optional[str]
    reaches_goal: Optional[Callable[[dict], bool]] = None
    requires: tuple = ()


def format_count(n):
    """``n`` in the short form the performance contract uses: ``1e6``, ``2e5``; other values as digits.

    Examples
    --------
    >>> format_count(1_000_000), format_count(200_000), format_count(1234)
    ('1e6', '2e5', '1234')
    """
    digits = str(n)
    mantissa, zeros = digits.rstrip("0"), len(digits) - len(digits.rstrip("0"))
    if n > 0 and len(mantissa) == 1 and zeros >= 3:
        return f"{mantissa}e{zeros}"
    return digits


def case_modules():
    """The case modules of this package, in report order.

    Examples
    --------
    >>> [m.__name__.rsplit(".", 1)[1] for m in case_modules()][:2]
    ['permutation', 'epochs']
    """
    package = importlib.import_module(__package__)
    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in MACHINERY:
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        if any(hasattr(module, kind) for kind in ("CASES", "SERIES", "MEASURES")):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "REPORT_ORDER", 100), m.__name__))


def all_cases():
    """Every :class:`Case` of every case module, in report order."""
    return [case for module in case_modules() for case in getattr(module, "CASES", ())]


def all_series():
    """Every :class:`Series` of every case module, in report order."""
    return [series for module in case_modules() for series in getattr(module, "SERIES", ())]


def all_measures():
    """Every :class:`Measure` of every case module, in report order."""
    return [m for module in case_modules() for m in getattr(module, "MEASURES", ())]


# The rows `fastbatch demo` times side by side: NumPy baselines well under a second each.
DEMO_GROUPS = (
    "permutation-1e7",
    "epoch-shuffled-1e6x16-float32-B256",
    "epoch-shuffled-2e5x8-float64-B64",
    "epoch-sequential-1e6x16-float32-B256",
)


def demo_cases(quick=False):
    """The demo's side-by-side rows: ``(name, numpy callable, fastbatch callable)``.

    A generator: each case's data is built when its row is reached and freed after.

    Examples
    --------
    >>> name, numpy_fn, fast_fn = next(demo_cases(quick=True))
    >>> name, len(numpy_fn()) == len(fast_fn())
    ('permutation n=2e6', True)
    """
    for case in all_cases():
        if case.group in DEMO_GROUPS:
            functions = case.setup(case.size(quick))
            yield case.name(quick), functions["numpy"], functions["fastbatch"]
