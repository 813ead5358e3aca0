"""The instruction synthesis engine: tasks (caption, filter, rectify, negatives) over edit pairs on one backend
interface (local transformers or any OpenAI-compatible server), the one VLM judge that evaluation reuses, and
the human refinement loop. `edit-handbook synthesize <task>` runs a task through the resumable writer."""

from edit_handbook.synth.backends import Backend, HTTPBackend, LocalBackend, Reply, Request, ask_json
from edit_handbook.synth.engine import SynthesisResult, push_result, run_task, save_result
from edit_handbook.synth.judge import Judge, Verdict, parse_judge_answer
from edit_handbook.synth.prompts import INSTRUCTION_ACCURACY, JudgeQuestion, prompt_version
from edit_handbook.synth.refinement import AnnotationError, export_for_annotation, import_annotations
from edit_handbook.synth.tasks import TASK_NAMES, Task, make_task


__all__ = [
    "INSTRUCTION_ACCURACY",
    "TASK_NAMES",
    "AnnotationError",
    "Backend",
    "HTTPBackend",
    "Judge",
    "JudgeQuestion",
    "LocalBackend",
    "Reply",
    "Request",
    "SynthesisResult",
    "Task",
    "Verdict",
    "ask_json",
    "export_for_annotation",
    "import_annotations",
    "make_task",
    "parse_judge_answer",
    "prompt_version",
    "push_result",
    "run_task",
    "save_result",
]
