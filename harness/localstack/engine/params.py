"""Parameters of one simulated vLLM engine (one pod).

The defaults sketch an 8B model on one GPU; `reference-stack/local/topology.yaml`
sets them per deployment under `engine:`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EngineParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: Literal["generate", "embed"] = "generate"
    served_model_name: str = Field("llama-3-8b", alias="servedModelName")
    # vLLM's --served-model-name takes several names; requests may use any of
    # them and responses report the first. A fallback pool lists the model it
    # stands in for here.
    served_model_aliases: list[str] = Field(default_factory=list, alias="servedModelAliases")
    max_model_len: int = Field(8192, alias="maxModelLen", gt=0)
    max_num_seqs: int = Field(256, alias="maxNumSeqs", gt=0)
    kv_cache_tokens: int = Field(262_144, alias="kvCacheTokens", gt=0)
    block_size: int = Field(16, alias="blockSize", gt=0)
    prefill_overhead_ms: float = Field(5.0, alias="prefillOverheadMs", ge=0)
    prefill_ms_per_token: float = Field(0.05, alias="prefillMsPerToken", ge=0)
    decode_step_ms: float = Field(20.0, alias="decodeStepMs", gt=0)
    decode_ms_per_seq: float = Field(0.02, alias="decodeMsPerSeq", ge=0)
    enable_prefix_caching: bool = Field(True, alias="enablePrefixCaching")
    default_max_tokens: int = Field(128, alias="defaultMaxTokens", gt=0)
    output_tokens_mean: float = Field(64.0, alias="outputTokensMean", gt=0)
    embedding_dim: int = Field(384, alias="embeddingDim", gt=0)
    seed: int = 0
