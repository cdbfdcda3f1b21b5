"""python -m pipeline.cull: copy, move or tag a run's blurry photos (pipeline.results.cull.cull)."""

import sys

from pipeline.results.cull.cull import main

if __name__ == "__main__":
    sys.exit(main())
