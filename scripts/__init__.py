"""Helper scripts: the shared .venv set-up (setup_env.sh) and the demo photo folder (demo_photos.py)."""
