"""The command `python -m training.evaluate`: the held-out evaluation of the blur model.

The code is the package training/evaluation/ (see its __init__ for the modules); this module is only
the command's name, kept so that the commands recorded in evaluation.json and model/HISTORY.md still run.
"""

from training.evaluation.cli import main

if __name__ == "__main__":
    main()
