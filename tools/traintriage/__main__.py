"""`python -m traintriage` is the same as the `traintriage` console script."""

from traintriage.cli import main

raise SystemExit(main())
