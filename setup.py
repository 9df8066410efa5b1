"""The optional C speed-ups (memento_syncd/core/_speedups.c); everything else is in pyproject.toml.

The extension is ``optional``: where no C compiler is found, the build goes on without it
and memento_syncd.core.speedups falls back to the pure-Python code, which gives the same
answers, only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "memento_syncd.core._speedups",
            sources=["memento_syncd/core/_speedups.c"],
            depends=["memento_syncd/core/csrc/sort.h", "memento_syncd/core/csrc/wordkeys.h"],
            optional=True,
        )
    ]
)
