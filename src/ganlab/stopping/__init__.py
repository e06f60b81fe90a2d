"""What ends a run early, and how it ends: nothing is lost and the exit code says what happened.

- ``signals``: Ctrl-C, SIGTERM, SIGHUP and a cluster's SIGUSR1/2 stop training after the iteration
  under way (``Interrupted``, ``StopAtIterationEnd``).
- ``sweeps``: a sweep stopped as a whole (a joblib sweep's launching process passes signals on to
  its jobs; no job starts after the stop).
- ``exit_codes``: the line, the exit code and the run record of a run that did not finish.
"""
