"""Copy, move or XMP-tag the photos a run flagged, with a durable undo manifest."""
