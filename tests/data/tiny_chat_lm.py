"""The tiny random Llama of tests/data/tiny_lm.py made into an "instruct" model: a chat template, sharper logits.

Generation tests need what an instruct model has: a chat template (ChatML, as SmolLM2's) and, for
SelfAsk, the words of Kadavath et al.'s prompt as tokens. The embeddings (tied to the output layer)
are scaled up so that the next-token distributions are far from uniform: a sampler that ignored the
temperature or the logits would then be caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.data.tiny_lm import build_tiny_lm

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
#: what the answer and SelfAsk prompts add around a query (their words must be in the vocabulary)
PROMPT_WORDS = [
    "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n",
    "Answer with the letter of the correct option (A, B, C or D).<|im_end|>",
    "Question: x\nProposed Answer: y\nIs the proposed answer:\n (A) True\n (B) False<|im_end|>",
    "The proposed answer is: True",
    "The proposed answer is: False",
]
EMBEDDING_SCALE = 8.0  # next-token entropy about 2 nats (about 4.5 unscaled: nearly uniform)


def build_tiny_chat_lm(folder: Path, corpus: Sequence[str] = ()) -> Path:
    """A tiny Llama folder with a ChatML template and sharpened logits; ``corpus`` words join its vocabulary."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    build_tiny_lm(folder, [*PROMPT_WORDS, *corpus])
    model = LlamaForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(EMBEDDING_SCALE)
    model.save_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(str(folder))
    return folder
