"""After the run: read a committed result (reader), review it in a browser (review/), act on it (cull/).
Never imports TensorFlow, Beam's RunInference or the job's steps: reading results stays cheap."""
