import sys

from vit_studio.cli import main

sys.exit(main())
