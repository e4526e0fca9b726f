"""SonicSep kernels: pure array -> array functions (Numba + pyFFTW). No I/O, no config objects.

- ``windows``: periodic analysis windows (scipy.signal.get_window's formulas) and centring.
- ``framing``: frame counts, virtual centre padding, windowed-frame filling.
- ``fft``: cached per-thread FFTW plans, block-wise STFT (complex, or magnitudes from a
  float64 FFT).
- ``memory``: recycled aligned buffers for large outputs.
- ``filterbanks``: mel (HTK/Slaney) and chroma filterbanks, their sparse spans.
- ``spectral``: filterbank products and per-frame spectral descriptors.
- ``temporal``: RMS, zero-crossing rate, amplitude envelope, onset-strength filters.
- ``pcm``: stereo downmix of decoded blocks with a finiteness check.
- ``db``, ``dct``, ``stats``: decibels, cepstral DCT bases and lifter, summary statistics.

Importing the package locks Numba's on-disk cache across processes (``_cache_lock``).
"""

from . import _cache_lock

_cache_lock.install()
