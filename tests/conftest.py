"""Test-suite settings.

The numba engine compiles its kernels once per kind of network (activations, loss,
optimizer). These tests train hundreds of kinds, each a compile of a few seconds on a
fresh clone, so they use the one general form (``DELTAPROP_KERNELS=general``; the bits
are the same, which ``test_engines.py::test_kernels_compiled_for_one_kind_give_the_general_bits``
checks). Subprocesses the tests start inherit it. Tests of the specialized forms set
``specialized`` themselves.
"""

import os

os.environ.setdefault("DELTAPROP_KERNELS", "general")
