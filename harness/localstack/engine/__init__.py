"""The engine simulator: a stand-in for one vLLM pod (see docs/local-stack-contracts.md)."""
