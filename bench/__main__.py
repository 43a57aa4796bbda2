"""``python -m bench``: run every benchmark."""

import sys

from bench import policy_bench

sys.exit(policy_bench.main(sys.argv[1:]))
