import sys

from seqdiff.cli import main

sys.exit(main())
