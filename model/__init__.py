"""The trained blur model shipped with the job: `blur_model.keras` and `metadata.json` in this folder."""

from pathlib import Path

MODEL_FILE = "blur_model.keras"
METADATA_FILE = "metadata.json"
"""The two files of a model folder, this one or any other (a training run's --out, a gs:// folder)."""

MODEL_DIR = Path(__file__).resolve().parent
"""Default --model: this package's folder, so Dataflow workers that install the package find it too."""
