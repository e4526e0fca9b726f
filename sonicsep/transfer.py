"""``python -m sonicsep.transfer``: reuse a trained model's backbone on another store.

A shim over :func:`sonicsep.nn.transfer.main`.
Exit codes: 0 trained, 2 usage error (message, no traceback), 130 interrupted (rerun resumes).
"""

import sys

from sonicsep.nn.transfer import main

if __name__ == "__main__":
    sys.exit(main())
