"""jauap: cited answers over Kazakh, Russian and English documents."""

import os

# On 2 cores numpy's BLAS threads fight the embedding engine's threads (single-query
# latency doubled in measurements); one BLAS thread is the deliberate default.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
