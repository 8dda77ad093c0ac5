"""The fast twins: backend selection, Numba and CuPy kernels, and the fused Numba training step.

Each computes exactly what a readable NumPy function in ``tinygan.nn`` or ``tinygan.gan`` computes
(tests hold them equal). This part sits below the engine and imports nothing from it.
"""
