"""edit-handbook demo Space: describe an edit, make one, and rectify a noisy instruction.

Only the UI lives here; what each tab does is `edit_handbook.space` (tested without a browser). Run locally:

    python spaces/edit-handbook/app.py --tiny --port 7860     # tiny local models, no weights needed

Models come from $EDIT_HANDBOOK_CAPTIONER and $EDIT_HANDBOOK_EDITOR (Hub ids or folders; defaults in
`edit_handbook.space.settings`), negatives optionally from an OpenAI-compatible server
($EDIT_HANDBOOK_NEGATIVES_URL, $EDIT_HANDBOOK_NEGATIVES_MODEL).
"""

from __future__ import annotations

import argparse
import tempfile

import gradio as gr

from edit_handbook.space import (
    ExamplePair,
    InputError,
    ModelUnavailable,
    SpaceService,
    SpaceSettings,
    gpu_task,
    on_zero_gpu,
    resolve_settings,
    write_examples,
)


# One request at a time per event (a model call fills a CPU, or a GPU's memory); at most QUEUE_SIZE waiting.
CONCURRENCY, QUEUE_SIZE = 1, 16


def _header(settings: SpaceSettings) -> str:
    limits = settings.limits
    # A public page names the negatives server's model, never its address.
    negatives = f"`{settings.negatives_model}` (chat server)" if settings.negatives_url else "the captioner"
    tiny = " **Tiny local models** (`--tiny`): the outputs show the plumbing, not quality." if settings.tiny else ""
    return (
        "# edit-handbook\n"
        "Supervision for instruction-based image editing: **EditCaption** (a VLM that writes editing instructions) "
        "and **SuperEdit** (rectified instructions, contrastive negatives, an InstructPix2Pix editor).\n\n"
        f"Captioner: `{settings.captioner}` · editor: `{settings.editor}` · negatives: {negatives}.{tiny}\n\n"
        f"Uploads: {', '.join(limits.formats)}, up to {limits.max_bytes // 2**20} MB and "
        f"{limits.max_pixels / 1e6:.1f} megapixels."
    )


def _image(label: str, elem_id: str) -> gr.Image:
    # A file path, not decoded pixels: the service checks size and format before anything is decoded.
    return gr.Image(label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], elem_id=elem_id)


def build_demo(service: SpaceService, examples: list[ExamplePair]) -> gr.Blocks:
    settings = service.settings
    defaults = settings.edit_defaults

    @gpu_task()
    def describe(source, target):
        try:
            return service.describe(source, target), ""
        except InputError as error:
            raise gr.Error(str(error), title="Input refused") from None
        except ModelUnavailable as error:
            return "", f"**Captioner unavailable.** {error}"

    @gpu_task()
    def edit(image, instruction, steps, text_guidance, image_guidance, seed):
        try:
            result = service.edit(
                image,
                instruction,
                steps=steps,
                text_guidance=text_guidance,
                image_guidance=image_guidance,
                seed=seed,
            )
        except InputError as error:
            raise gr.Error(str(error), title="Input refused") from None
        except ModelUnavailable as error:
            return None, f"**Editor unavailable.** {error}"
        return result, f"Edited at {result.width} x {result.height} px."

    @gpu_task()
    def rectify(source, target, instruction, num_negatives):
        try:
            result = service.rectify(source, target, instruction, num_negatives)
        except InputError as error:
            raise gr.Error(str(error), title="Input refused") from None
        except ModelUnavailable as error:
            return "", [], f"**Captioner unavailable.** {error}"
        rows = [[attribute, text] for attribute, text in result.negatives]
        return result.instruction or "", rows, "\n\n".join(result.notes)

    with gr.Blocks(title="edit-handbook") as demo:
        gr.Markdown(_header(settings), elem_id="header")
        with gr.Tab("Describe an edit", id="describe"):
            gr.Markdown("Source and edited image in; the instruction that turns one into the other out.")
            with gr.Row():
                source = _image("Source image", "describe-source")
                target = _image("Edited image", "describe-target")
            run = gr.Button("Describe the edit", variant="primary", elem_id="describe-run")
            instruction = gr.Textbox(label="Instruction", interactive=False, elem_id="describe-output")
            status = gr.Markdown(elem_id="describe-status")
            gr.Examples([[e.source, e.target] for e in examples], [source, target], label="Synthetic pairs")
            run.click(describe, [source, target], [instruction, status])

        with gr.Tab("Edit an image", id="edit"):
            gr.Markdown(
                "An image and an instruction in; the editor's result out. Defaults are the Real-Edit inference "
                "settings (Euler Ancestral, 50 steps, text guidance 10, image guidance 1.5, seed 42)."
            )
            with gr.Row():
                with gr.Column():
                    image = _image("Image", "edit-source")
                    request = gr.Textbox(label="Instruction", placeholder="make the sky pink", elem_id="edit-text")
                    with gr.Accordion("Settings", open=False):
                        steps = gr.Slider(1, 100, value=defaults.steps, step=1, label="Steps")
                        text_guidance = gr.Slider(0, 30, value=defaults.text_guidance, step=0.5, label="Text guidance")
                        image_guidance = gr.Slider(
                            0, 30, value=defaults.image_guidance, step=0.1, label="Image guidance"
                        )
                        seed = gr.Number(value=defaults.seed, precision=0, minimum=0, label="Seed")
                    run = gr.Button("Edit", variant="primary", elem_id="edit-run")
                with gr.Column():
                    edited = gr.Image(
                        label="Edited", type="pil", format="png", interactive=False, elem_id="edit-output"
                    )
                    status = gr.Markdown(elem_id="edit-status")
            gr.Examples([[e.source, e.instruction] for e in examples], [image, request], label="Synthetic examples")
            run.click(edit, [image, request, steps, text_guidance, image_guidance, seed], [edited, status])

        with gr.Tab("Rectify", id="rectify"):
            gr.Markdown(
                "A pair and a possibly wrong instruction in; SuperEdit's rectified instruction (within CLIP's 77 "
                "tokens) and wrong instructions that each change one attribute (quantity, position, object, "
                "colour) out: the contrastive negatives the editor trains against."
            )
            with gr.Row():
                source = _image("Source image", "rectify-source")
                target = _image("Edited image", "rectify-target")
            noisy = gr.Textbox(label="Noisy instruction", elem_id="rectify-text")
            count = gr.Slider(1, 8, value=4, step=1, label="Negatives")
            run = gr.Button("Rectify", variant="primary", elem_id="rectify-run")
            rectified = gr.Textbox(label="Rectified instruction", interactive=False, elem_id="rectify-output")
            negatives = gr.Dataframe(
                headers=["attribute", "wrong instruction"],
                datatype=["str", "str"],
                interactive=False,
                label="Negatives",
                elem_id="rectify-negatives",
            )
            status = gr.Markdown(elem_id="rectify-status")
            gr.Examples(
                [[e.source, e.target, e.noisy_instruction] for e in examples],
                [source, target, noisy],
                label="Synthetic",
            )
            run.click(rectify, [source, target, noisy, count], [rectified, negatives, status])
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--tiny", action="store_true", help="run on the tiny local models (also $EDIT_HANDBOOK_TINY=1)"
    )
    parser.add_argument("--host", default=None, help="address to bind (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    args = parser.parse_args(argv)

    settings = resolve_settings(tiny=args.tiny)
    examples_dir = tempfile.mkdtemp(prefix="edit-handbook-examples-")
    service = SpaceService(settings)
    if on_zero_gpu():
        for failure in service.preload():
            print(failure, flush=True)
    demo = build_demo(service, write_examples(examples_dir))
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=settings.limits.max_bytes,
        allowed_paths=[examples_dir],
        show_error=True,
    )


if __name__ == "__main__":
    main()
