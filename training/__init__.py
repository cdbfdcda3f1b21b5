"""Making the blur model (train.py and its parts) and measuring it on held-out photos (evaluation/)."""
