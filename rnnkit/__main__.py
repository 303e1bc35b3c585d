import sys

from rnnkit.tools.cli import main

sys.exit(main())
