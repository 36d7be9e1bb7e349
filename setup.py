"""Package layout only; metadata lives in pyproject.toml.

The library lives in src/filo. The top-level stages/ and pipelines/ folders
(the layout the design asks for) are installed as filo.stages and
filo.pipelines, so no generic top-level name ("stages", "data", "models")
lands in site-packages.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages("src") + ["filo.stages", "filo.pipelines"],
    package_dir={"": "src", "filo.stages": "stages", "filo.pipelines": "pipelines"},
)
