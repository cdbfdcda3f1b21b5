"""The trained blur model shipped with the job: `blur_model.keras` and `metadata.json` in this folder."""

from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent
"""Default --model: this package's folder, so Dataflow workers that install the package find it too."""
