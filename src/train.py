"""Train a GAN on MNIST: ``python src/train.py [key=value ...]``; conf/train.yaml lists the keys.

Examples:
    python src/train.py trainer.max_steps=20000
    python src/train.py -m data.batch_size=32,64,128,256
    python src/train.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt   # resume

The command is ganlab/command_line.py's ``train`` (``python -m ganlab`` from an installed package);
what a run does is ganlab/training.py.
"""

from ganlab.command_line import train

if __name__ == "__main__":
    train()
