"""Reusable pieces of the benchmark behind ``pytest bench/`` and ``python -m convkernels bench``.

Modules, one idea each:

* ``shapes``  — the real conv layers of ResNet-50 and VGG-16 (static list + torchvision walk)
* ``timing``  — CUDA-event timing: warm-up, L2 flush, median and p20/p80, a cap per measurement
* ``device``  — peak throughput table by GPU name and the environment capture for a report
* ``suite``   — the benchmark cases (op x network x batch x dtype x layout), in priority order
* ``runner``  — runs one case on the GPU: verify every backend against cuDNN, then time it
* ``report``  — the JSON report schema, the merging writer, CSV export
* ``summary`` — geomean speedups per group and the headline targets, computed from rows
* ``render``  — Markdown rendering and ``render_latest`` of the newest committed report
* ``cputour`` — what the bench does without a GPU: correctness tour and layer table
* ``session`` — one run: the report's meta, checkpointed report writing
* ``gpusummary`` — SUMMARY.md of ``make gpu-report`` from the step logs

Nothing here imports torch at package import time, so ``python -m convkernels`` starts fast.
"""
