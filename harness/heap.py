"""Keep the garbage collector off the data path of a long-running process: the
local stack's servers, and the load generator that measures them.

Measured at 200 streams (benchmarks/mesh_overhead.py, a probe on
`gc.callbacks`): the proxy's and the engines' full (generation 2) collections
took 23-54 ms each, walking the 50,000-70,000 objects that start-up leaves
behind (pydantic models, aiohttp's routers, the imported modules). Each one
stops the event loop: every stream in flight gets its next token frame that
much later, which is the 1-in-3-runs p99 spike the proxy's TTFT overhead
showed. Those objects live as long as the process, so once it is serving they
are moved out of the collector's sight (`gc.freeze`); what requests allocate
is still collected as before, and a full collection then walks only objects
created since. The Locust process that measures TTFT has the same problem
from the other side: a pause there is read as the mesh's latency, so the LLM
users settle their process's heap when a test starts.
"""

from __future__ import annotations

import gc

__all__ = ["settle_heap"]


def settle_heap() -> int:
    """Collect once, then freeze every surviving object (the process's
    start-up state) into the permanent generation; returns how many were
    frozen. Call it when the process has finished starting and serves."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
