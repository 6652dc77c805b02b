"""Entry point of ``python -m fer_core``."""

from fer_core.apps.cli import main

raise SystemExit(main())
