"""Shared helpers for the bench scripts: generated trees, measured subprocesses, small tables."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
OUT = BENCH / "out"

sys.path.insert(0, str(BENCH))
import gen_claude_logs  # noqa: E402
import gen_codex_logs  # noqa: E402


@dataclass(frozen=True)
class TreeSpec:
    name: str
    lines: int
    seed: int
    target_mb: float | None
    files: int | None

    @property
    def path(self) -> Path:
        return DATA / self.name


BIG = TreeSpec("claude-200k", 200_000, 1, 230.0, None)
MANY = TreeSpec("claude-5000-files", 50_000, 2, 45.0, 5000)


def ensure_tree(spec: TreeSpec, regen: bool = False) -> dict[str, Any]:
    """The tree's reference.json, generating the tree first when it is missing or was made differently."""
    ref_path = spec.path / "reference.json"
    want_target = int(spec.target_mb * 1_000_000) if spec.target_mb else None
    if ref_path.exists() and not regen:
        ref: dict[str, Any] = json.loads(ref_path.read_text(encoding="utf-8"))
        g = ref.get("generator", {})
        same = (
            g.get("version") == gen_claude_logs.GENERATOR_VERSION
            and g.get("seed") == spec.seed
            and g.get("lines") == spec.lines
            and g.get("files") == spec.files
            and (want_target is None or g.get("target_bytes") == want_target)
        )
        if same:
            return ref
    if spec.path.exists():
        shutil.rmtree(spec.path)
    t0 = time.perf_counter()
    ref = gen_claude_logs.generate(spec.path, spec.lines, spec.seed, spec.target_mb, spec.files)
    print(f"generated {spec.path} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return ref


@dataclass(frozen=True)
class CodexTreeSpec:
    name: str
    seed: int
    target_mb: float

    @property
    def path(self) -> Path:
        return DATA / self.name


CODEX = CodexTreeSpec("codex-150mb", 1, 150.0)


def ensure_codex_tree(spec: CodexTreeSpec, regen: bool = False) -> dict[str, Any]:
    """The Codex tree's reference.json, generating the tree first when it is missing or was made
    differently (another generator version, seed or size)."""
    ref_path = spec.path / "reference.json"
    if ref_path.exists() and not regen:
        ref: dict[str, Any] = json.loads(ref_path.read_text(encoding="utf-8"))
        g = ref.get("generator", {})
        if (
            g.get("version") == gen_codex_logs.GENERATOR_VERSION
            and g.get("seed") == spec.seed
            and g.get("target_bytes") == int(spec.target_mb * 1_000_000)
        ):
            return ref
    if spec.path.exists():
        shutil.rmtree(spec.path)
    t0 = time.perf_counter()
    ref = gen_codex_logs.generate(spec.path, spec.seed, spec.target_mb)
    print(f"generated {spec.path} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return ref


def warm_page_cache(root: Path) -> None:
    """Read every log once so each measured tool starts with the same (warm) page cache: a Claude
    tree's ``projects``, or a Codex home's ``sessions`` and ``archived_sessions``."""
    paths = [*(root / "projects").rglob("*.jsonl"), *root.glob("*sessions/**/rollout-*")]
    for path in paths:
        with path.open("rb") as f:
            while f.read(1 << 22):
                pass


@dataclass(frozen=True)
class Measured:
    wall_s: float
    max_rss_kib: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def rss_mib(self) -> float:
        return self.max_rss_kib / 1024


def run_measured(
    cmd: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Measured:
    """Run ``cmd``; wall time, and peak RSS of the process and its waited-for children (``wait4``)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=full_env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            wall_s=wall,
            max_rss_kib=int(usage.ru_maxrss),  # KiB on Linux
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain fixed-width table (numbers right-aligned)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if n and _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True)
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(c: object) -> str:
    if isinstance(c, bool):
        return str(c)
    if isinstance(c, int):
        return f"{c:,}"
    if isinstance(c, float):
        return f"{c:,.3f}" if abs(c) < 100 else f"{c:,.0f}"
    return str(c)


def _numeric(s: str) -> bool:
    return bool(s) and (s[0].isdigit() or (s[0] in "+-" and len(s) > 1 and s[1].isdigit()))


def save(name: str, payload: Mapping[str, Any]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def server_env(tmp: str, db: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a cost-mcp server a benchmark starts: its ledger, and settings, prices and
    Claude folder in ``tmp`` so that nothing of the machine's own is read."""
    env = dict(os.environ)
    env.update(
        COST_MCP_DB=str(db),
        COST_MCP_ENV_FILE=f"{tmp}/env",
        COST_MCP_PRICES_FILE=f"{tmp}/prices.toml",
        CLAUDE_CONFIG_DIR=f"{tmp}/claude",
        **extra,
    )
    return env


def wait_healthy(base: str, tries: int = 300, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until the HTTP server at ``base`` answers ``/healthz`` (at most ``tries`` x 0.1 s); raise
    when it never does, or when ``process`` (the server) ends first: a figure of a server that never
    started measures refused connections."""
    import httpx2

    for _ in range(tries):
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server at {base} ended (exit code {process.returncode}) before answering")
        try:
            if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {base} did not answer /healthz within {tries / 10:.0f} s")


@dataclass(frozen=True)
class Server:
    """A running `cost-mcp serve --http`: where it answers, and its process (for its pid's CPU)."""

    base: str
    process: subprocess.Popen[bytes]


@contextmanager
def http_server(env: Mapping[str, str], *args: str) -> Iterator[Server]:
    """`cost-mcp serve --http ARGS` in ``env`` (:func:`server_env`) on a free loopback port, once it
    answers ``/healthz``; stopped (and waited for) when the block ends. Its stderr is dropped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "cost_mcp", "serve", "--http", "--port", str(port), *args],
        env=dict(env),
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process=process)
        yield Server(base, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
