"""Draw new digits from a trained GAN.

    python src/generate.py ckpt_path=<run>/checkpoints/last.ckpt n=64 out=grid.png
    python src/generate.py ckpt_path=<run>/checkpoints/last.ckpt n=50000 out=samples.npy
    python src/generate.py ckpt_path=<cgan run>/checkpoints/last.ckpt digit=7 n=64 out=sevens.png

The command is ganlab/command_line.py's ``generate``; the drawing is ganlab/generation.py.
"""

from ganlab.command_line import generate

if __name__ == "__main__":
    generate()
