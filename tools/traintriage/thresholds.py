"""The relative-update thresholds: one set of numbers for the probe's detectors, the log detectors and the
handbook (refs/diagnostic_metrics.md#relative-update-thresholds states them; tests/test_handbook_claims.py
parses that table and compares it with these constants).

The ratio is the per-step ||dW|| / ||W|| of a parameter group. Only the centre comes from the literature;
the marks around it are this project's calibration on its eval cases, each a factor of ten or more from the
centre so an ordinary run never trips them.
"""

from __future__ import annotations

# CS231n, "Neural Networks Part 3" (https://cs231n.github.io/neural-networks-3/): the ratio of update to
# weight magnitudes should be "somewhere around 1e-3".
REL_UPDATE_GUIDELINE = 1e-3
# A tenth of the centre with a loss that does not fall is worth a warning (lr-too-low).
REL_UPDATE_LOW_WARN = 1e-4
# A hundredth of the centre moves the weights by 0.001 % a step: thousands of steps to go anywhere
# (lr-too-low error; the log detectors' "weights stopped moving").
REL_UPDATE_LOW = 1e-5
# Thirty times the centre, sustained, moves every weight by 3 % a step: fine for a few warm steps, not as a
# regime (lr-too-high with a loss that rises or oscillates). Seed 002 (Drevo) reads ">> 1e-2" as too large;
# 1e-2 itself is within reach of a healthy warm-up, which the eval cases' settling spikes showed.
REL_UPDATE_HIGH = 3e-2
# One step moving the weights by 10 % of their norm (100x the centre) is a blow-up when the loss spikes with it.
REL_UPDATE_PEAK = 0.1
