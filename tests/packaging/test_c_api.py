"""The public C-API: ``from fastbatch cimport ...`` and the include path it needs.

Building a package against it is tested in test_packaging.py (slow); these check the
promise itself: which names ``fastbatch/__init__.pxd`` offers, and where it is found.
"""

import os
import re
from pathlib import Path

import fastbatch as fb

PROMISED = {
    "FB_OK", "FB_ENOMEM", "FB_ENONFINITE", "FB_EINTR", "FB_EOUTOFRANGE",
    "fb_random_bounded", "fb_permutation_int64", "fb_permutation_int32",
    "fb_take_rows", "fb_take_rows_scatter", "fb_take_rows_strided",
    "fb_index_shuffle", "fb_index_unshuffle",
    "FB_FLOAT32", "FB_FLOAT64", "fb_linreg_data", "fb_linreg_step", "fb_linreg_sgd_epoch",
    "fb_linreg_loss", "fb_linreg_gradient", "fb_column_moments",
}
# What release 0.1 offered under fastbatch._kernels (the deprecated alias keeps exactly it).
PROMISED_IN_0_1 = {"FB_OK", "FB_ENOMEM", "FB_ENONFINITE", "FB_EINTR", "fb_random_bounded",
                   "fb_permutation_int64", "fb_permutation_int32", "fb_take_rows",
                   "fb_take_rows_scatter", "fb_take_rows_strided"}


def cimported_names(pxd):
    text = re.sub(r"#.*", "", pxd.read_text())
    names = set()
    for block in re.findall(r"cimport\s*\(([^)]*)\)|cimport\s+([^\n(]+)", text):
        names.update(n.strip() for n in ",".join(block).split(",") if n.strip())
    return names


def test_get_include_is_the_folder_containing_the_package():
    include = fb.get_include()
    assert os.path.isabs(include)
    assert Path(include, "fastbatch", "__init__.pxd").is_file()
    assert Path(include, "fastbatch", "__init__.py").resolve() == Path(fb.__file__).resolve()


def test_public_c_api_offers_exactly_the_promised_functions():
    pxd = Path(fb.get_include(), "fastbatch", "__init__.pxd")
    assert cimported_names(pxd) == PROMISED


def test_deprecated_kernels_alias_offers_the_public_names_and_no_test_hook():
    pxd = Path(fb.get_include(), "fastbatch", "_kernels", "__init__.pxd")
    names = cimported_names(pxd)
    assert PROMISED_IN_0_1 <= names
    assert not any(n.endswith("_py") or "buckets" in n or "shuffle" in n for n in names)
    assert not Path(fb.get_include(), "fastbatch", "_random.pxd").exists()
