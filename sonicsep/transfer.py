"""``python -m sonicsep.transfer``: reuse a trained model's backbone on another store.

A shim over :func:`sonicsep.nn.cli.transfer_main`.
Exit codes: 0 trained or already finished, 2 usage error (message, no traceback),
130 interrupted (rerun resumes).
"""

import sys

from sonicsep.nn.cli import transfer_main

if __name__ == "__main__":
    sys.exit(transfer_main())
