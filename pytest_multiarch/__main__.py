import sys

from pytest_multiarch.cli.main import main

sys.exit(main())
