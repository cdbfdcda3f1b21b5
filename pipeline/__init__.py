"""The blur-scoring Beam job; `pipeline.score` holds the whole data flow."""
