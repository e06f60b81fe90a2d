"""``python -m ganlab [key=value ...]``: the train command (``python src/train.py``'s) from wherever
ganlab is installed, with the configs inside the package; what ``ganlab.train`` runs."""

from ganlab.command_line import train

# Guarded: a spawned worker (joblib's, multiprocessing's) imports this module again under another name
if __name__ == "__main__":
    train()
