import sys

from harness.localstack.cli import _orchestrator_main

_orchestrator_main(sys.argv[1:])
