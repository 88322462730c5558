"""Metrics, classical codecs, BD-rate, plots and speed/memory benchmarks."""
