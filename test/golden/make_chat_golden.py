#!/usr/bin/env python3
"""Generate test/golden/chat.tsv: chat prompts rendered by jinja2.

The templates below were written for this project from each family's
public prompt format (they are not copies of any model's template); the
default model's real template is read from its GGUF file when present.
Rendering uses the environment settings Hugging Face uses for chat
templates (trim_blocks, lstrip_blocks).

Output lines (tab-separated, '#' lines are comments):

  template <TAB> KEY <TAB> FAMILY <TAB> DEFAULT_SYSTEM_HEX <TAB> SOURCE_HEX
      a template source and what llm_chat_template_parse() must find in
      it (family name, and the default system text, "-" for none)
  KEY <TAB> ADD_ASSISTANT(0/1) <TAB> MESSAGES_HEX <TAB> EXPECTED_HEX
      a rendering: MESSAGES is JSON [{"role": ..., "content": ...}, ...]
      (UTF-8, ensure_ascii=False), EXPECTED the rendered prompt

Usage: make_chat_golden.py [MODEL.gguf] > test/golden/chat.tsv
       (default model: ~/.cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf)
"""
import json
import os
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

BOS = {
    "llama2": "<s>",
    "mistral": "<s>",
    "llama3": "<|begin_of_text|>",
    "gemma": "<bos>",
}
EOS = {
    "llama2": "</s>",
    "mistral": "</s>",
    "zephyr": "</s>",
    "llama3": "<|eot_id|>",
    "gemma": "<eos>",
    "chatml": "<|im_end|>",
}

# --- templates written for this test, one per family ----------------------

T_CHATML = """{%- for message in messages %}
    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}"""

# chatml with a default system turn given as raw template text, in the
# "else" branch of a test on the first role
T_CHATML_SYS = """{% if messages[0]["role"] == "system" %}{% else %}
<|im_start|>system
You are a terse assistant.
Answer in \u00e9l\u00e9gant English.<|im_end|>
{% endif %}
{% for m in messages %}
<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}"""

T_LLAMA3 = """{{- bos_token }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}
    {{- message['content'] | trim }}
    {{- '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}"""

T_LLAMA2 = """{%- if messages[0]['role'] == 'system' %}
    {%- set sys_text = messages[0]['content'] %}
    {%- set turns = messages[1:] %}
{%- else %}
    {%- set sys_text = none %}
    {%- set turns = messages %}
{%- endif %}
{%- if turns | length == 0 %}
    {%- set turns = [{'role': 'user', 'content': ''}] %}
{%- endif %}
{%- for message in turns %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('roles must alternate user/assistant') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and sys_text is not none %}
            {%- set text = '<<SYS>>\\n' + sys_text + '\\n<</SYS>>\\n\\n' + message['content'] %}
        {%- else %}
            {%- set text = message['content'] %}
        {%- endif %}
        {{- bos_token + '[INST] ' + text.strip() + ' [/INST]' }}
    {%- else %}
        {{- ' ' + message['content'].strip() + ' ' + eos_token }}
    {%- endif %}
{%- endfor %}"""

T_MISTRAL = """{%- if messages[0]['role'] == 'system' %}
    {%- set sys_text = messages[0]['content'] %}
    {%- set turns = messages[1:] %}
{%- else %}
    {%- set sys_text = none %}
    {%- set turns = messages %}
{%- endif %}
{%- if turns | length == 0 %}
    {%- set turns = [{'role': 'user', 'content': ''}] %}
{%- endif %}
{{- bos_token }}
{%- for message in turns %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('roles must alternate user/assistant') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {{- '[INST] ' }}
        {%- if loop.first and sys_text is not none %}
            {{- sys_text + '\\n\\n' }}
        {%- endif %}
        {{- message['content'] + ' [/INST]' }}
    {%- else %}
        {{- message['content'] + eos_token }}
    {%- endif %}
{%- endfor %}"""

T_ZEPHYR = """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\\n' + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""

T_GEMMA = """{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set prefix = messages[0]['content'] + '\\n\\n' %}
    {%- set turns = messages[1:] %}
{%- else %}
    {%- set prefix = '' %}
    {%- set turns = messages %}
{%- endif %}
{%- if turns | length == 0 %}
    {%- set turns = [{'role': 'user', 'content': ''}] %}
{%- endif %}
{%- for message in turns %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('roles must alternate user/assistant') }}
    {%- endif %}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] %}
    {{- '<start_of_turn>' + role + '\\n' + (prefix if loop.first else '') }}
    {{- message['content'] | trim }}
    {{- '<end_of_turn>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<start_of_turn>model\\n' }}
{%- endif %}"""

# --- conversations ---------------------------------------------------------

S = "system"
U = "user"
A = "assistant"


def msgs(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


CONVERSATIONS = [
    msgs((U, "Hello!")),
    msgs((S, "You are a pirate."), (U, "Where is the treasure?")),
    msgs((U, "What is 2+2?"), (A, "4."), (U, "And 3+3?")),
    msgs((S, "Be brief."), (U, "Hi"), (A, "Hello. How can I help?")),
    msgs((U, "Gr\u00fc\u00dfe, \u4e16\u754c! \U0001F680 \u2014 \u00e7a va?"),
         (A, "\u0422\u0430\u043a, \u0434\u044f\u043a\u0443\u044e \u2764\ufe0f"),
         (U, "\u65e5\u672c\u8a9e\u3067\u7b54\u3048\u3066")),
    msgs((S, "  Rules:\n1. be nice\n2. be short\n"),
         (U, "  line one\nline two\n\n  "),
         (A, "\n\tanswer\u00a0\u3000"),
         (U, "\u2003trailing unicode spaces\u2028\u205f")),
    msgs((U, "{{ not jinja }} {% if %} <|im_end|> [INST] \"quoted\" \\back\\slash\ttab")),
    msgs((U, "")),
    msgs((S, "Only a system message.")),
    msgs((U, "a"), (A, "b"), (U, "c"), (A, "d"), (U, "e")),
]

# roles in any order are fine for the formats with standalone turns
FREE_ORDER = [
    msgs((U, "first"), (S, "a system message in the middle"), (U, "second")),
    msgs((A, "I start."), (U, "ok")),
]


def alternates(conv):
    turns = conv[1:] if conv[0]["role"] == S else conv
    for i, m in enumerate(turns):
        if m["role"] == S or (m["role"] == U) != (i % 2 == 0):
            return False
    return True


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def render(env, src, family, conv, add):
    t = env.from_string(src)
    return t.render(messages=conv, add_generation_prompt=add,
                    bos_token=BOS.get(family, ""), eos_token=EOS.get(family, ""),
                    raise_exception=raise_exception)


def hx(s):
    return s.encode("utf-8").hex()


def main():
    model = (sys.argv[1] if len(sys.argv) > 1 else
             os.path.expanduser("~/.cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf"))
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    # (key, family, default system or None, source, alternating only)
    templates = [
        ("chatml", "chatml", None, T_CHATML, False),
        ("chatml-sys", "chatml", "You are a terse assistant.\nAnswer in \u00e9l\u00e9gant English.",
         T_CHATML_SYS, False),
        ("llama3", "llama3", None, T_LLAMA3, False),
        ("llama2", "llama2", None, T_LLAMA2, True),
        ("mistral", "mistral", None, T_MISTRAL, True),
        ("zephyr", "zephyr", None, T_ZEPHYR, False),
        ("gemma", "gemma", None, T_GEMMA, True),
    ]
    if os.path.exists(model):
        from gguf import GGUFReader
        r = GGUFReader(model)
        src = r.fields["tokenizer.chat_template"].contents()
        templates.append(("smollm2", "chatml",
                          "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                          src, False))
    else:
        print("warning: %s not found; smollm2 lines omitted" % model, file=sys.stderr)

    out = sys.stdout
    out.write("# generated by test/golden/make_chat_golden.py - do not edit\n")
    for key, family, dsys, src, alt in templates:
        out.write("template\t%s\t%s\t%s\t%s\n" % (key, family, hx(dsys) if dsys else "-", hx(src)))
        convs = CONVERSATIONS + ([] if alt else FREE_ORDER)
        for conv in convs:
            if alt and not alternates(conv):
                continue
            for add in (False, True):
                text = render(env, src, family, conv, add)
                js = json.dumps(conv, ensure_ascii=False)
                out.write("%s\t%d\t%s\t%s\n" % (key, int(add), hx(js), hx(text)))


if __name__ == "__main__":
    main()
