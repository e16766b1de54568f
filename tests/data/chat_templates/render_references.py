#!/usr/bin/env python3
"""Renders every chat template in templates/ on every conversation in
conversations/ with Python's jinja2, configured exactly as Hugging Face
transformers configures it, and writes the expected outputs (or the expected
error) to expected/<template>.json. tests/test_chat_template_corpus.cpp checks
Lumen's Jinja engine against these files, so CI needs no Python.

Run from anywhere:  python3 tests/data/chat_templates/render_references.py
Requires the pinned packages in requirements.txt (pip install -r requirements.txt).
"""

import datetime
import json
import pathlib
import sys
from contextlib import contextmanager

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = pathlib.Path(__file__).resolve().parent
PINNED_JINJA2 = "3.1.6"

# strftime_now() returns this instant, so the references are reproducible.
FIXED_NOW = datetime.datetime(2025, 7, 26, 14, 30, 5)

# Special tokens passed to each template, as transformers passes the tokenizer's
# special_tokens_map. The first rule whose key occurs in the template's file
# name wins; None means the tokenizer has no such token, so the variable is
# left undefined (as transformers does for Qwen's missing bos_token).
SPECIAL_TOKENS = [
    ("Llama-3", ("<|begin_of_text|>", "<|eot_id|>")),
    ("llama-3", ("<|begin_of_text|>", "<|eot_id|>")),
    ("Hermes-3-Llama-3.1", ("<|begin_of_text|>", "<|im_end|>")),
    ("DeepSeek-R1-Distill-Llama", ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")),
    ("deepseek", ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")),
    ("DeepSeek", ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")),
    ("functionary", ("<|begin_of_text|>", "<|eot_id|>")),
    ("Qwen", (None, "<|im_end|>")),
    ("QwQ", (None, "<|im_end|>")),
    ("MiMo", (None, "<|im_end|>")),
    ("SmolLM", ("<|im_start|>", "<|im_end|>")),
    ("gemma", ("<bos>", "<eos>")),
    ("Phi-3", ("<s>", "<|endoftext|>")),
    ("Cohere", ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>")),
    ("granite", ("<|end_of_text|>", "<|end_of_text|>")),
    ("GLM", (None, "<|endoftext|>")),
    ("gpt-oss", ("<|startoftext|>", "<|return|>")),
    ("Kimi", ("[BOS]", "[EOS]")),
    ("LFM", ("<|startoftext|>", "<|im_end|>")),
    ("MiniMax", ("<s>", "</s>")),
    ("Nemotron", ("<s>", "</s>")),
    ("", ("<s>", "</s>")),
]


def special_tokens_for(template_name):
    for key, (bos, eos) in SPECIAL_TOKENS:
        if key in template_name:
            tokens = {}
            if bos is not None:
                tokens["bos_token"] = bos
            if eos is not None:
                tokens["eos_token"] = eos
            return tokens
    raise AssertionError("unreachable: the last rule matches every name")


class AssistantTracker(Extension):
    """transformers' {% generation %} tag. Outside assistant-mask tracking it
    renders its body unchanged, which is all the references need."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_generation_support")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_environment():
    """transformers' _compile_jinja_template environment."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def template_context(conversation, special_tokens):
    """The variables transformers' apply_chat_template passes to render()."""
    context = {
        "messages": conversation["messages"],
        "tools": conversation.get("tools"),
        "documents": None,
        "add_generation_prompt": conversation["add_generation_prompt"],
    }
    context.update(special_tokens)
    context.update(conversation.get("kwargs", {}))
    return context


def render_one(env, source, context):
    try:
        template = env.from_string(source)
    except Exception as error:  # a template Python cannot compile fails on every conversation
        return {"error": f"{type(error).__name__}: {error}"}
    try:
        return {"output": template.render(**context)}
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def main():
    if jinja2.__version__ != PINNED_JINJA2:
        sys.exit(f"jinja2 {PINNED_JINJA2} is required (found {jinja2.__version__}); see requirements.txt")
    conversations = {}
    for path in sorted((HERE / "conversations").glob("*.json")):
        conversations[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    out_dir = HERE / "expected"
    out_dir.mkdir(exist_ok=True)
    env = make_environment()
    for template_path in sorted((HERE / "templates").glob("*.jinja")):
        name = template_path.stem
        # newline="" keeps the bytes as stored; jinja2 normalizes line endings itself.
        source = template_path.open(encoding="utf-8", newline="").read()
        tokens = special_tokens_for(name)
        results = {conv_name: render_one(env, source, template_context(conv, tokens))
                   for conv_name, conv in conversations.items()}
        record = {"template": template_path.name, "special_tokens": tokens, "results": results}
        with (out_dir / f"{name}.json").open("w", encoding="utf-8", newline="\n") as f:
            json.dump(record, f, ensure_ascii=False, indent=1)
            f.write("\n")
        errors = sum("error" in r for r in results.values())
        print(f"{name}: {len(results) - errors} rendered, {errors} raised")


if __name__ == "__main__":
    main()
