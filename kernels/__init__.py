"""SonicSep kernels: pure array -> array functions (Numba + pyFFTW). No I/O, no config objects."""
