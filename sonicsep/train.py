"""``python -m sonicsep.train``: train a deep genre model on a feature store.

A shim over :func:`sonicsep.nn.train.main`, which documents the options and the work directory.
Exit codes: 0 trained, 2 usage error (message, no traceback), 130 interrupted (rerun resumes).
"""

import sys

from sonicsep.nn.train import main

if __name__ == "__main__":
    sys.exit(main())
