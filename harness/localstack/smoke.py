"""The smoke run: start the local stack, stream one chat completion through its
gateway, print the stack's status, stop everything."""

from __future__ import annotations

import json
import time

import httpx
from rich.console import Console

from harness.localstack.stack import LocalStack, StackOptions
from harness.localstack.status import collect_status, print_status

__all__ = ["run_smoke", "stream_chat", "SmokeFailed"]


class SmokeFailed(RuntimeError):
    """The stack started but did not serve the smoke request."""


async def stream_chat(gateway: str, prompt: str, max_tokens: int = 24,
                      model: str = "llama-3-8b") -> tuple[str, dict[str, str], float]:
    """Stream one chat completion; return (text, response headers, TTFT seconds)."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True}}
    text, ttft = "", float("nan")
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        async with client.stream("POST", f"{gateway}/v1/chat/completions", json=body) as resp:
            if resp.status_code != 200:
                raise SmokeFailed(f"gateway answered {resp.status_code}: {(await resp.aread())[:300]!r}")
            async for line in resp.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices", []):
                    piece = choice.get("delta", {}).get("content") or ""
                    if piece and ttft != ttft:
                        ttft = time.perf_counter() - t0
                    text += piece
            return text, dict(resp.headers), ttft


async def run_smoke(opts: StackOptions, console: Console) -> None:
    """Raises StackError (the stack did not start), SmokeFailed or httpx.HTTPError
    (it did not serve); the stack is stopped in every case."""
    async with LocalStack(opts) as stack:
        gateway = stack.state.gateway
        console.print(f"stack up; streaming one chat completion through {gateway}")
        text, headers, ttft = await stream_chat(gateway, "Say hello to the mesh.")
        served = headers.get("x-mesh-upstream") or headers.get("x-served-by-pod", "?")
        console.print(f"[bold]completion[/bold] ({ttft * 1000:.1f} ms to first token, served by {served}):")
        console.print(f"  {text}")
        print_status(await collect_status(stack.state), console)
    console.print("smoke run passed; stack stopped")
