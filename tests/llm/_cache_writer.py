"""Helper process for the multi-process cache test: writes N keys with individual puts.

Usage: python _cache_writer.py PATH PREFIX N. Opens the cache, prints "ready", waits for a line on
stdin (so that both writers start at the same moment), then writes PREFIX-0 .. PREFIX-(N-1).
"""

from __future__ import annotations

import sys

from promptopt.llm.cache import ResponseCache
from promptopt.llm.records import ChatResponse, Usage


def main() -> None:
    path, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with ResponseCache(path) as cache:
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(n):
            response = ChatResponse(text=f"{prefix} answer {i}", usage=Usage(3, i))
            cache.put(f"{prefix}-{i}", f"model-{prefix}", response)
    print("done", flush=True)


if __name__ == "__main__":
    main()
