"""``python -m lowcov.benchmark TRUTH QUERY -r REF -o PREFIX``."""
import sys

from .cli import main

sys.exit(main())
