"""``make evaluator``: ``python -m ganlab.metrics [--data-dir data] [--force]``. The package's own
entry point: ``-m ganlab.metrics.evaluator`` would run a second copy of a module the package has
already imported (runpy warns, and the two copies' globals differ)."""

from ganlab.metrics.evaluator import main

main()
