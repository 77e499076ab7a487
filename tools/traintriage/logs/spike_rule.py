"""What a loss spike is, shared by the loss-spikes detector and the downsampler that must keep spikes when it
thins a long series (logs/downsample.py): a point several times above its running median and far outside the
recent noise. Only numbers here (no imports), so the series model can use them without importing the detectors.
"""

from __future__ import annotations

# refs/symptoms.md#loss-spikes: "jumps several times above its running median and then recovers".
SPIKE_FACTOR = 3.0
# ... and far outside the recent noise (robust z on the median absolute deviation), so a noisy loss
# with a tiny median is not full of "spikes".
SPIKE_Z = 6.0
# The MAD of normally distributed noise times this is its standard deviation (the usual consistency constant).
MAD_TO_SIGMA = 1.4826
