"""The review page: a static HTML gallery of a run's verdicts with thumbnails."""
