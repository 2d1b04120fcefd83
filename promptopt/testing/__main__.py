"""``python -m promptopt.testing serve ...``: the test server as a subprocess.

Prints ``READY http://HOST:PORT/v1`` once listening, then serves until SIGTERM or SIGINT.
Kept light (stdlib only) so it starts fast.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Sequence

from promptopt.testing.app import ServerCore
from promptopt.testing.capacity import ServerConfig
from promptopt.testing.faults import FAULT_KINDS, FaultPlan
from promptopt.testing.policies import POLICIES, Policy


def _fault_rate(text: str) -> tuple[str, float]:
    kind, sep, rate = text.partition("=")
    if not sep or kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(f"expected KIND=RATE with KIND in {', '.join(FAULT_KINDS)}")
    try:
        return kind, float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad rate {rate!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m promptopt.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the loopback OpenAI-compatible test server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--model", default="test-model")
    serve.add_argument("--max-seqs", type=int, default=64)
    serve.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    serve.add_argument("--prefill-tps", type=float, default=None)
    serve.add_argument("--decode-tps", type=float, default=None)
    serve.add_argument("--policy", choices=sorted(POLICIES), default="echo")
    serve.add_argument("--text", default="OK", help="reply of --policy constant")
    serve.add_argument("--words", type=int, default=12, help="reply length of --policy hashed")
    serve.add_argument(
        "--fault-rate", type=_fault_rate, action="append", default=[], metavar="KIND=RATE"
    )
    serve.add_argument("--fault-seed", type=int, default=0)
    serve.add_argument("--fault-always", choices=FAULT_KINDS, default=None)
    serve.add_argument("--max-failures-per-key", type=int, default=None)
    serve.add_argument("--retry-after", type=float, default=1.0, help="seconds, for 429")
    serve.add_argument("--hang", type=float, default=30.0, help="seconds a 'hang' lasts")
    return parser


def _policy(args: argparse.Namespace) -> Policy:
    if args.policy == "constant":
        return POLICIES["constant"](args.text)
    if args.policy == "hashed":
        return POLICIES["hashed"](args.words)
    return POLICIES[args.policy]()


def build_core(args: argparse.Namespace) -> ServerCore:
    """The server described by the command line; raises ValueError on bad values."""
    config = ServerConfig(
        model=args.model,
        max_seqs=args.max_seqs,
        latency_s=args.latency,
        prefill_tps=args.prefill_tps,
        decode_tps=args.decode_tps,
    )
    faults = FaultPlan(
        rates=dict(args.fault_rate),
        seed=args.fault_seed,
        always=args.fault_always,
        max_failures_per_key=args.max_failures_per_key,
        retry_after_s=args.retry_after,
        hang_s=args.hang,
    )
    return ServerCore(_policy(args), config, faults)


async def serve(core: ServerCore, host: str, port: int) -> None:
    """Listen, print the READY line, serve until SIGTERM/SIGINT, then close every connection."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = await core.start(host, port)
    print(f"READY http://{host}:{bound}/v1", flush=True)
    try:
        await stop.wait()
    finally:
        await core.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        core = build_core(args)
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2
    try:
        asyncio.run(serve(core, args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
