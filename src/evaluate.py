"""Score a GAN's samples with the MNIST sample-quality metrics (FID, classifier score, ...).

    python src/evaluate.py ckpt_path=<run>/checkpoints/last.ckpt
    python src/evaluate.py samples=<file.npy>      # [N, 28, 28] floats in [-1, 1], from any GAN code

Prints a table next to the real-data floor and writes the JSON beside the checkpoint or samples.
The command is ganlab/command_line.py's ``evaluate``; the scoring is ganlab/evaluation.py.
"""

from ganlab.command_line import evaluate

if __name__ == "__main__":
    evaluate()
