"""Run the fault suite: `uv run --frozen python -m scenarios.faults [--seed N]`."""

import sys

from scenarios.faults.run import main

sys.exit(main())
