"""``python -m suite`` runs the ``hwbehave`` command line."""

from suite.cli.main import main

raise SystemExit(main())
