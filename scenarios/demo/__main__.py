"""Run the demo: `uv run --frozen python -m scenarios.demo`."""

import sys

from scenarios.demo.run import main

sys.exit(main())
