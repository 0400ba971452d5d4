"""Fused mini-batch SGD for linear regression (filled in by the estimator work)."""
