"""The edges: codecs, transports, stores and the journal. Plain classes, no actors."""
