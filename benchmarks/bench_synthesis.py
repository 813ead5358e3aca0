"""Throughput of the synthesis backends: the local backend against plain batched `generate` and one pair at a
time, side by side on the same model, prompts and images; then the HTTP backend as concurrency grows.

    # CPU, tiny random Qwen3-VL (a plumbing-scale figure)
    PYTHONPATH=src:. python benchmarks/bench_synthesis.py --model tiny --num-pairs 32 --image-size 64 \
        --batch-size 8 --new-tokens 16 --http-requests 16
    # GPU, the issue's anchor setting (a random-init Qwen3-VL-2B built offline, two 512 px images, 48 new tokens)
    PYTHONPATH=src:. python benchmarks/bench_synthesis.py --model random-2b --device cuda --dtype bfloat16 \
        --num-pairs 256 --image-size 512 --batch-size 64 --new-tokens 48 --static-cache --http-concurrency
    # the CPU plumbing setting, well under 2 minutes
    PYTHONPATH=src:. python benchmarks/bench_synthesis.py --tiny

Every method generates exactly `--new-tokens` tokens per pair (`min_new_tokens`), so the comparison does not
depend on when a model happens to stop. `--model random-2b` builds the Qwen3-VL-2B architecture with random
weights from its known config (no download) and the offline Qwen tokenizer; the one-at-a-time arm runs on
at most `--one-at-a-time-pairs` pairs (default 8) so that it cannot dominate the run. The ratios are printed
on one line (`RATIOS synthesis: ...`); `--output` also writes them as JSON. The HTTP part starts `transformers serve` on loopback unless
`--base-url` points at a running server; servers stop where they like, so it reports requests per second.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from edit_handbook.data.synthetic import generate_pairs
from edit_handbook.editcaption.prompts import prompt_messages
from edit_handbook.models import load_vlm, tiny_qwen3_vl
from edit_handbook.synth.backends import HTTPBackend, LocalBackend, Request


TINY = ["--model", "tiny", "--num-pairs", "8", "--image-size", "64", "--batch-size", "8", "--new-tokens", "8",
        "--repeats", "1", "--one-at-a-time-pairs", "4", "--http-concurrency"]  # fmt: skip


def load_model(name: str, image_size: int, device: str, dtype: str):
    """(model, processor, label): the tiny random model, a random-init 2B built offline, or a checkpoint."""
    if name == "random-2b":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_sft import build  # the same random-init 2B and offline processor as the SFT/DPO benchmarks

        model, processor = build("2b", image_size, device)
        return model.to(getattr(torch, dtype)), processor, "Qwen/Qwen3-VL-2B-Instruct (random init)"
    path = str(tiny_qwen3_vl()) if name == "tiny" else name
    model, processor = load_vlm(path, dtype=getattr(torch, dtype))
    return model, processor, path


def plain_generate(model, processor, sources, targets, batch_size: int, new_tokens: int) -> list[str]:
    """The reference: batches in input order, preprocessing then `generate`, one after the other."""
    text = processor.apply_chat_template(prompt_messages("caption"), add_generation_prompt=True, tokenize=False)
    answers = []
    for start in range(0, len(sources), batch_size):
        images = [[s, t] for s, t in zip(sources[start : start + batch_size], targets[start : start + batch_size])]
        inputs = processor(
            text=[text] * len(images), images=images, padding=True, padding_side="left", return_tensors="pt"
        ).to(model.device)
        with torch.inference_mode():
            output = model.generate(
                **inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                pad_token_id=processor.tokenizer.pad_token_id,
            )  # fmt: skip
        answers += processor.tokenizer.batch_decode(
            output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
    return [answer.strip() for answer in answers]


def timed(fn, *args) -> tuple[float, object]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU plumbing setting: " + " ".join(TINY))
    parser.add_argument("--model", default="tiny", help="'tiny', 'random-2b' (built offline) or a checkpoint")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--num-pairs", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the two batched methods, best kept")
    parser.add_argument("--one-at-a-time-pairs", type=int, default=8, help="pairs timed one at a time (bounded)")
    parser.add_argument("--static-cache", action="store_true", help="local backend: static KV cache")
    parser.add_argument("--http-concurrency", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--http-requests", type=int, default=16)
    parser.add_argument("--serve-args", nargs="*", default=[], help="extra `transformers serve` flags")
    parser.add_argument("--base-url", default=None, help="a running OpenAI-compatible server (default: start one)")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.tiny:  # the preset first: flags given after --tiny override it
        args = parser.parse_args([*TINY, *argv])

    model, processor, path = load_model(args.model, args.image_size, args.device, args.dtype)
    model.to(args.device).eval()
    pairs = list(generate_pairs(args.num_pairs, image_size=args.image_size))
    sources = [row["source_image"] for row in pairs]
    targets = [row["target_image"] for row in pairs]
    n, b, m = args.num_pairs, args.batch_size, args.new_tokens
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU x {torch.get_num_threads()} threads"
    print(f"model {path} on {device} ({args.dtype}); {n} pairs, two {args.image_size} px images each, ")
    print(f"batch {b}, {m} new tokens, static cache {args.static_cache}", flush=True)

    generate_kwargs = {"min_new_tokens": m, **({"cache_implementation": "static"} if args.static_cache else {})}
    local = LocalBackend(model, processor, model_name=path, batch_size=b, generate_kwargs=generate_kwargs)
    requests = [Request(prompt_messages("caption"), [s, t], m) for s, t in zip(sources, targets)]
    plain_generate(model, processor, sources[:b], targets[:b], b, m)  # warm-up (allocator, kernels, compile)
    local.generate(requests[:b])

    plain_s, local_s = float("inf"), float("inf")
    for _ in range(args.repeats):  # interleaved, best of each: load from other processes hits both alike
        seconds, plain_answers = timed(plain_generate, model, processor, sources, targets, b, m)
        plain_s = min(plain_s, seconds)
        seconds, replies = timed(local.generate, requests)
        local_s = min(local_s, seconds)
    k = min(args.one_at_a_time_pairs, n)
    single_s, _ = timed(plain_generate, model, processor, sources[:k], targets[:k], 1, m)
    same = sum(reply.text == answer for reply, answer in zip(replies, plain_answers))
    single, plain, ours = k / single_s, n / plain_s, n / local_s
    print(f"one pair at a time       {single:8.2f} pairs/s  (over {k} pairs)")
    print(f"plain batched generate   {plain:8.2f} pairs/s  ({plain / single:.2f}x one at a time)")
    print(
        f"local backend            {ours:8.2f} pairs/s  ({ours / plain:.2f}x plain batched, {ours / single:.2f}x one)"
    )
    print(f"identical answers, local backend vs plain batched: {same}/{n}")
    summary = {
        "benchmark": "synthesis", "device": device, "args": {k: str(v) for k, v in vars(args).items()},
        "pairs_per_s": {"one at a time": single, "plain batched": plain, "local backend": ours},
        "ratios": {"local/plain": ours / plain, "plain/one": plain / single, "local/one": ours / single},
        "goals": {"local/plain": 1.5}, "identical_answers": f"{same}/{n}",
    }  # fmt: skip
    if args.output:
        args.output.write_text(json.dumps(summary, indent=2))
    print(
        f"RATIOS synthesis: local/plain = {ours / plain:.2f} (goal >= 1.5)  plain/one = {plain / single:.2f}  "
        f"local/one = {ours / single:.2f}  [{device}, batch {b}]",
        flush=True,
    )

    if not args.http_concurrency:
        return summary
    from tests.fixtures_serving import transformers_serve

    with tempfile.TemporaryDirectory() as folder:
        if args.base_url:
            server, base_url = None, args.base_url
        else:
            server = transformers_serve(path, Path(folder) / "serve.log", *args.serve_args)
            base_url = server.__enter__()
        try:
            http_requests = (requests * (args.http_requests // n + 1))[: args.http_requests]
            for concurrency in args.http_concurrency:
                backend = HTTPBackend(base_url, path, api_key_env=None, concurrency=concurrency, timeout=600)
                backend.generate(http_requests[:concurrency])  # warm-up: model load, first request
                seconds, replies = timed(backend.generate, http_requests)
                failed = sum(not reply.ok for reply in replies)
                rate = len(http_requests) / seconds
                print(f"http, concurrency {concurrency:3d}     {rate:8.2f} requests/s  ({failed} failed)")
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    return summary


if __name__ == "__main__":
    main()
