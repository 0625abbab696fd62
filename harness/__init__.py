"""llm-mesh-harness: chaos and conformance testing for LLM serving meshes."""

__version__ = "0.1.0"
