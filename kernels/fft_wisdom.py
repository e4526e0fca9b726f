# ruff: noqa: E501  (wisdom lines are FFTW's own)
"""FFTW wisdom for SonicSep's float32 real FFTs, one plan per shipped ``n_fft``.

Written by ``benchmarks/fftw_wisdom.py`` (which says how each plan was chosen); do not edit by
hand. Each entry is the single-precision wisdom of one block plan of ``kernels.fft``
(``block_rows(n_fft, float32)`` frames of ``n_fft`` samples, 64-byte aligned), exported by
pyFFTW 0.15 (FFTW 3.3.5). Loading it makes every process plan the same algorithm, so float32
spectra are the same bits in every process on a machine; without it FFTW's measuring planner
would pick by timing. The plans were chosen on the 2-core development VM (Intel Xeon, AVX);
on a CPU that cannot run one, FFTW refuses it and SonicSep uses the estimator's plan.
"""

WISDOM = {
    256: (
        '(fftw-3.3.5 fftwf_wisdom #x706526c0 #x2f8b6c85 #x8cd1bb1a #x7c96e03d\n'
        '  (fftwf_dft_vrank_geq1_register 1 #x11048 #x11048 #x0 #x0a21695d #x9f41a008 #xe1218835 #x7ebeccce)\n'
        '  (fftwf_codelet_hc2cfdftv_8_sse2 0 #x11048 #x11048 #x0 #x1ace7f47 #xfaef4bce #xec388dd5 #x67a9ddb9)\n'
        '  (fftwf_codelet_n1fv_32_sse2 0 #x11048 #x11048 #x0 #xac082462 #x8a261757 #x3e524209 #xf3b99868)\n'
        '  (fftwf_codelet_r2cf_8 2 #x11048 #x11048 #x0 #xaccb8bbb #x30a0e5a6 #xb8c0b6b6 #xd9c72532)\n'
        '  (fftwf_codelet_r2cfII_8 2 #x11048 #x11048 #x0 #xd0595f70 #x0f49f59a #x2758e317 #x73323a52)\n'
        ')\n'
    ),
    512: (
        '(fftw-3.3.5 fftwf_wisdom #x706526c0 #x2f8b6c85 #x8cd1bb1a #x7c96e03d\n'
        '  (fftwf_codelet_hc2cfdftv_8_sse2 0 #x11bdd #x11bdd #x0 #x5b41659d #x19284499 #xeec59862 #xfef7c9fa)\n'
        '  (fftwf_codelet_n1fv_64_sse2 0 #x11bdd #x11bdd #x0 #x7c60addb #xf9ca1ddc #xd784b8b0 #x8ed673cf)\n'
        '  (fftwf_rdft2_vrank_geq1_register 0 #x11bdd #x11bdd #x0 #xa99e9fb2 #xfe2325b8 #x593f711a #x42ca0ce9)\n'
        '  (fftwf_codelet_r2cfII_8 2 #x11bdd #x11bdd #x0 #x9ac92620 #xecd8b6e3 #x0f543a91 #x2d802e15)\n'
        '  (fftwf_codelet_r2cf_8 2 #x11bdd #x11bdd #x0 #xff334bee #xa949e4e9 #xba62525c #x0be21e9a)\n'
        ')\n'
    ),
    1024: (
        '(fftw-3.3.5 fftwf_wisdom #x706526c0 #x2f8b6c85 #x8cd1bb1a #x7c96e03d\n'
        '  (fftwf_codelet_n1fv_128_sse2 0 #x11bdd #x11bdd #x0 #xf71d26d3 #xfcf6485f #x7d82b787 #x874ef628)\n'
        '  (fftwf_codelet_r2cf_8 2 #x11bdd #x11bdd #x0 #x675249aa #x037557b8 #x14643a4b #x9ea626ef)\n'
        '  (fftwf_codelet_hc2cfdftv_8_sse2 0 #x11bdd #x11bdd #x0 #xa3aa3245 #xfa89ad84 #x6f51d136 #x21269ea8)\n'
        '  (fftwf_codelet_r2cfII_8 2 #x11bdd #x11bdd #x0 #xc7a8d0be #x7798b669 #x9437b479 #x2ba791fc)\n'
        '  (fftwf_rdft2_vrank_geq1_register 0 #x11bdd #x11bdd #x0 #x2c06faed #x62ef0802 #x2575465f #x55267177)\n'
        ')\n'
    ),
    2048: (
        '(fftw-3.3.5 fftwf_wisdom #x706526c0 #x2f8b6c85 #x8cd1bb1a #x7c96e03d\n'
        '  (fftwf_codelet_n1fv_128_avx 0 #x11048 #x11048 #x0 #x8cdb66c5 #xd19a85ca #x2363dee9 #x3db54797)\n'
        '  (fftwf_codelet_r2cf_16 2 #x11048 #x11048 #x0 #x4763035b #x4f8a923e #x2c342a5d #xce93669b)\n'
        '  (fftwf_dft_vrank_geq1_register 0 #x11048 #x11048 #x0 #x5595ba17 #xea5f52a0 #x541b0cc5 #xb7dbaed8)\n'
        '  (fftwf_codelet_r2cfII_16 2 #x11048 #x11048 #x0 #xe4b504b4 #x2f6a4880 #xcb1ff291 #x7fc8ec47)\n'
        '  (fftwf_codelet_hc2cfdftv_16_sse2 0 #x11048 #x11048 #x0 #x17b0d2eb #x5c0f1346 #x1619cc8f #x0253eecb)\n'
        ')\n'
    ),
    4096: (
        '(fftw-3.3.5 fftwf_wisdom #x706526c0 #x2f8b6c85 #x8cd1bb1a #x7c96e03d\n'
        '  (fftwf_codelet_r2cfII_32 2 #x11bdd #x11bdd #x0 #x98892b64 #xc6bd1dd9 #x42646b4e #x03e7bc5a)\n'
        '  (fftwf_codelet_r2cf_2 2 #x11bdd #x11bdd #x0 #xbfc65661 #x84112f31 #x1c6ec423 #xd7f4a10b)\n'
        '  (fftwf_codelet_hc2cfdftv_2_sse2 0 #x11bdd #x11bdd #x0 #xcd9fbd30 #xe04ffd37 #xa4502a69 #xd532a2fc)\n'
        '  (fftwf_codelet_n1fv_16_sse2 0 #x11bdd #x11bdd #x0 #x2ac1ae7f #xb2cbefe8 #x2c5a0353 #x9e92e72d)\n'
        '  (fftwf_codelet_hc2cfdftv_32_sse2 0 #x11bdd #x11bdd #x0 #x1a5d03cf #x02e7393c #xe77ce853 #x8b5ec7f2)\n'
        '  (fftwf_rdft2_vrank_geq1_register 0 #x11bdd #x11bdd #x0 #x933941bc #xc4996043 #x84c66fd8 #xca366b01)\n'
        '  (fftwf_codelet_r2cfII_2 2 #x11bdd #x11bdd #x0 #xaf168558 #x9e139717 #xd7190567 #x0d578d09)\n'
        '  (fftwf_codelet_n1fv_128_avx 0 #x11bdd #x11bdd #x0 #x6e6ee1b6 #x17374e7f #xb6a207c8 #x669dde41)\n'
        ')\n'
    ),
}
