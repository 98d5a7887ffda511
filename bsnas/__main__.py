import sys

from bsnas.cli import main

sys.exit(main())
