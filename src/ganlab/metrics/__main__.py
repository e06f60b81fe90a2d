"""``make evaluator``: ``python -m ganlab.metrics [--data-dir data] [--force]``. The package's own
entry point: ``-m ganlab.metrics.evaluator_cache`` would run a second copy of a module the package has
already imported (runpy warns, and the two copies' globals differ)."""

import sys

from ganlab.errors import UserError
from ganlab.metrics.evaluator_cache import EvaluatorCacheError, EvaluatorTooWeakError, main

try:
    main()
except (UserError, EvaluatorCacheError, EvaluatorTooWeakError) as err:  # one line, as the commands give
    print(f"Error: {err}", file=sys.stderr)
    raise SystemExit(1) from None
