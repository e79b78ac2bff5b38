/* The pinned torch 2.2.1 wheel links Intel MKL 2022.2, which asks mkl_serv_intel_cpu_true() whether the CPU is an
 * Intel one and, on an AMD CPU, takes slower single-precision GEMM kernels (mkl_blas_def_sgemm_kernel_0_zen).
 * Preloading this definition makes MKL choose its kernels by the CPU's instruction sets (AVX2, FMA) alone, as on an
 * Intel CPU with the same sets. Measured on an AMD EPYC (AVX2): one Peptides-func epoch of kGCN-SSM in 0.6-0.7x the
 * CPU time (docs/rough_edges.md, benchmarks/bench_mkl_intel_path.py). It changes only the summation order of MKL's
 * products; the record names it (each sitting's machine.ld_preload).
 *
 * Build: make mkl-intel-path   (gives .venv/lib/libmkl_intel_path.so)
 * Use:   LD_PRELOAD=$PWD/.venv/lib/libmkl_intel_path.so python -m dgl_ssm.studies ...
 */
int mkl_serv_intel_cpu_true(void) { return 1; }
