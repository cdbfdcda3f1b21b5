"""Packaging for the blur-scoring job.

Dataflow workers install this with `--setup_file=./setup.py`: the runner builds an sdist here, stages it,
and each worker pip-installs it, which brings `pipeline` (the job's code) and `model` (the shipped
blur_model.keras and metadata.json, found through model.MODEL_DIR) plus the pinned runtime dependencies.

requirements.txt is the one pinned list: install_requires is read from it (MANIFEST.in ships it inside
the sdist, because workers run this file again when they install the package).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_requirements(name: str) -> list[str]:
    """Requirement lines of a pip requirements file, without comments, blanks and `-r` includes."""
    requirements = []
    for line in (HERE / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirements.append(line)
    return requirements


setup(
    name="blur-photo-scoring",
    version="0.1.0",
    description="A Beam job that finds blurry photos in folders and Cloud Storage buckets.",
    python_requires=">=3.11",
    packages=find_packages(include=["pipeline", "pipeline.*", "model"]),
    # The model's files (not the evaluation report), and the review page's static files.
    package_data={"model": ["blur_model.keras", "metadata.json"], "pipeline.results.review": ["assets/*"]},
    install_requires=read_requirements("requirements.txt"),
    # The same commands as `python -m pipeline.score|review|cull`, for an installed package.
    entry_points={
        "console_scripts": [
            "blur-score=pipeline.score:main",
            "blur-review=pipeline.results.review.review:main",
            "blur-cull=pipeline.results.cull.cull:main",
        ]
    },
    extras_require={"dev": read_requirements("requirements-dev.txt")},
)
