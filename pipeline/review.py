"""python -m pipeline.review: the review page of a run (pipeline.results.review.review)."""

import sys

from pipeline.results.review.review import main

if __name__ == "__main__":
    sys.exit(main())
