"""The embedded default's first start: processes that start together build the cache once, and
none of them sees a half-written file (a test suite beside a training job failed 109 tests on a
GGUF file another process was still writing)."""
import os
import subprocess
import sys
import textwrap

# A child process: the real GGUF assembly and lock, a stand-in dequantization that records its calls.
CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from splare_pyserini.modeling import gguf_default

    def fake_dequantize(gguf_path, target):
        assert gguf_path.stat().st_size > 100_000_000  # the whole assembled file
        with open(Path(sys.argv[1]) / "calls.txt", "a") as calls:
            calls.write(f"{os.getpid()}\\n")
        time.sleep(2)  # long enough for the other process to arrive
        staging = target.parent / (target.name + ".staging")
        staging.mkdir()
        (staging / "config.json").write_text("{}")
        (staging / "model.safetensors").write_bytes(b"")
        os.replace(staging, target)

    gguf_default._dequantize = fake_dequantize
    print(gguf_default.materialize_gemma3_270m())
""")


def test_concurrent_first_starts_build_the_cache_once(tmp_path):
    env_cache = tmp_path / "cache"
    env = {**os.environ, "SPLARE_CACHE": str(env_cache)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1
    assert len((tmp_path / "calls.txt").read_text().split()) == 1  # one process built, the other waited
    leftovers = [p.name for p in env_cache.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == ["gemma3-270m-q4-k-m-dequantized"], leftovers  # no GGUF copy, no staging folder
