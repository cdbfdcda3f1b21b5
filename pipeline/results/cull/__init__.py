"""Copy, move or XMP-tag the photos a run flagged, with a durable cull log to undo it."""
