import sys

from cyclegan_core.cli import main

sys.exit(main())
