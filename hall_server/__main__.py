"""`python -m hall_server` is the `hall-server` command."""
import sys

from hall_server.cli import main

sys.exit(main())
