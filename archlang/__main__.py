import sys

from archlang.cli import main

sys.exit(main())
