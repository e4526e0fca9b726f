"""``python -m sonicsep.train``: train a deep genre model on a feature store.

A shim over :func:`sonicsep.nn.cli.train_main`; ``--help`` lists the options, and
:mod:`sonicsep.nn.train` documents the work directory.
Exit codes: 0 trained or already finished, 2 usage error (message, no traceback),
130 interrupted (rerun resumes).
"""

import sys

from sonicsep.nn.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
