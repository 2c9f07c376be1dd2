from __future__ import annotations

import sys

from analytics.cli import main

sys.exit(main())
