import sys

from omp_cli.main import main

sys.exit(main())
