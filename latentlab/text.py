"""From a prompt to the vectors the UNet attends to: a tokenizer and a tiny text encoder.

Stable Diffusion v1 uses CLIP's text transformer (Radford et al. 2021): 49 408 sub-word tokens,
77 positions, 12 layers of width 768, trained on 400 M image-caption pairs. Our captions come from
a grammar of a few dozen words (`latentlab.data.Scene.caption`), so a word-level tokenizer and a
two-layer transformer of width 128 do the same job, and are trained together with the UNet
(as Imagen showed a frozen encoder is not required, and as LDM §4.3 trains its BERT-like encoder).

    "a red circle"  ──tokenize──►  [<start>, a, red, circle, <end>, <pad>, …]   (B, L) integers
                    ──encode────►  (B, L, D) context vectors, one per position, for cross-attention

An empty prompt is a real prompt: `<start> <end>` and padding. Its encoding is the "unconditional"
context that classifier-free guidance pushes away from (the model saw it during training in place
of 10 % of the captions).
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import COLORS, POSITIONS, SHAPES, SIZES
from .i18n import tr

SPECIAL_TOKENS = ("<pad>", "<start>", "<end>")
# A word is a run of letters of any alphabet ("círculo" is one word, not 'c' + 'rculo'); digits
# and underscores are not letters.
WORD = re.compile(r"[^\W\d_]+")


def caption_vocabulary() -> list[str]:
    """Every word the captions' grammar can produce, sorted."""
    words = {"a", "and", "on", "background", *SHAPES, *COLORS, *SIZES}
    for position in POSITIONS:
        words.update(position.split())
    return sorted(words)


class Tokenizer:
    """Words ↔ integer ids for a fixed vocabulary; punctuation and case are ignored, digits and
    symbols (emoji) refused: the grammar has neither, and dropping them would change the prompt.

    Unlike CLIP's byte-pair tokenizer it cannot spell an unknown word out of pieces, so an unknown
    word is an error that names the closest words it does know."""

    def __init__(self, words: list[str] | None = None, context_length: int = 24):
        words = caption_vocabulary() if words is None else list(words)
        self.vocab = list(SPECIAL_TOKENS) + words
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.context_length = context_length
        self.pad_id, self.start_id, self.end_id = (self.ids[t] for t in SPECIAL_TOKENS)

    def __len__(self) -> int:
        return len(self.vocab)

    def words(self, prompt: str) -> list[str]:
        """The prompt's words, lower-cased: 'A red círculo!' → ['a', 'red', 'círculo']."""
        if isinstance(prompt, (bytes, bytearray)):
            raise TypeError(tr("a prompt is a string, got bytes: {data!r}; decode it first, "
                               "e.g. prompt.decode('utf-8')").format(data=bytes(prompt)[:40]))
        if not isinstance(prompt, str):
            raise TypeError(tr("a prompt is a string, got {kind}: {prompt!r}").format(kind=type(prompt).__name__,
                                                                                      prompt=prompt))
        # NFC: an accent typed as a separate combining mark joins its letter ('í', not 'i' + '́').
        return WORD.findall(unicodedata.normalize("NFC", prompt).lower())

    @staticmethod
    def _not_readable(prompt: str) -> list[str]:
        """Characters that are neither letters, spaces nor punctuation: digits, symbols, emoji."""
        prompt = unicodedata.normalize("NFC", prompt)
        return sorted({ch for ch in prompt if not (ch.isspace() or WORD.fullmatch(ch)
                                                   or unicodedata.category(ch).startswith("P"))})

    def read(self, prompt: str) -> list[str]:
        """The words the encoder reads: the prompt's own, or, for a Spanish caption, the English
        caption's (`latentlab.captions_es`: "un círculo rojo" → ['a', 'red', 'circle'])."""
        from .captions_es import english_words, is_spanish

        words = self.words(prompt)
        if all(w in self.ids for w in words) or not is_spanish(words):
            return words
        return english_words(words, prompt)

    def encode(self, prompt: str) -> list[int]:
        """One prompt → `context_length` ids: <start> words <end> <pad>…"""
        words = self.read(prompt)
        unknown = [w for w in words if w not in self.ids or w in SPECIAL_TOKENS]
        if unknown:
            known = self.vocab[len(SPECIAL_TOKENS):]
            hints = []
            for w in unknown:
                close = difflib.get_close_matches(w, known, n=3, cutoff=0.5)
                hints.append(tr("{word!r}: did you mean {options}?").format(word=w, options=tr(" or ").join(close))
                             if close else tr("{word!r}: no known word is close").format(word=w))
            raise ValueError(tr("unknown word(s) in {prompt!r}: {hints} The model knows {n} words: {words}").format(
                prompt=prompt, hints="; ".join(hints), n=len(known), words=", ".join(known)))
        unreadable = self._not_readable(prompt)
        if unreadable:
            raise ValueError(tr("the prompt {prompt!r} holds {chars}: not letters, and the model reads words only; "
                                "write numbers out as words or leave them out").format(
                prompt=prompt, chars=", ".join(map(repr, unreadable))))
        limit = self.context_length - 2
        if len(words) > limit:
            raise ValueError(tr("the prompt has {n} words; the text encoder reads at most {limit} (its context is "
                                "{context} tokens with <start> and <end>)").format(
                n=len(words), limit=limit, context=self.context_length))
        ids = [self.start_id] + [self.ids[w] for w in words] + [self.end_id]
        return ids + [self.pad_id] * (self.context_length - len(ids))

    def __call__(self, prompts: str | list[str]) -> torch.Tensor:
        """A prompt or a list of prompts → (B, L) int64 ids."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, (list, tuple)):
            raise TypeError(f"expected a prompt (str) or a list of prompts, got {type(prompts).__name__}: {prompts!r}")
        if len(prompts) == 0:
            raise ValueError("no prompts to tokenize: give at least one (the empty prompt is '')")
        return torch.tensor([self.encode(p) for p in prompts], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return " ".join(self.vocab[i] for i in ids if i not in (self.pad_id, self.start_id, self.end_id))


def to_english(prompt: str) -> str:
    """The caption the text encoder reads for `prompt`: itself for an English prompt, the English twin
    of a Spanish one ("un círculo rojo grande" → "a large red circle")."""
    return " ".join(Tokenizer().read(prompt))


@dataclass
class TextConfig:
    width: int = 128          # D, the context dimension the UNet's cross-attention reads
    layers: int = 2           # two layers suffice for a grammar this small (CLIP ViT-L: 12)
    heads: int = 4
    context_length: int = 24  # the longest two-object caption is 19 tokens with <start> and <end>
    words: tuple[str, ...] = tuple(caption_vocabulary())

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer (GPT-2/CLIP style): x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.to_qkv = nn.Linear(width, 3 * width)
        self.to_out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.to_qkv(self.norm1(x)).chunk(3, dim=-1)  # 3 × (B, L, D)
        q, k, v = (t.view(B, L, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, heads, L, d)
        # Padding positions are never attended to (keep: (B, 1, 1, L) booleans).
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # (B, heads, L, d)
        x = x + self.to_out(h.transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """Token ids (B, L) → context (B, L, D): embeddings + positions, transformer layers, LayerNorm."""

    def __init__(self, config: TextConfig):
        super().__init__()
        self.config = config
        self.tokenizer = Tokenizer(list(config.words), config.context_length)
        self.token_embedding = nn.Embedding(len(self.tokenizer), config.width)
        self.position_embedding = nn.Parameter(torch.randn(config.context_length, config.width) * 0.02)
        self.layers = nn.ModuleList(TransformerLayer(config.width, config.heads) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        B, L = ids.shape
        if L != self.config.context_length:
            raise ValueError(f"expected {self.config.context_length} token ids per prompt, got {L}")
        x = self.token_embedding(ids) + self.position_embedding  # (B, L, D)
        keep = (ids != self.tokenizer.pad_id)[:, None, None, :]  # (B, 1, 1, L)
        for layer in self.layers:
            x = layer(x, keep)
        return self.norm(x)  # (B, L, D)

    def encode(self, prompts: str | list[str]) -> torch.Tensor:
        """Prompts → (B, L, D) context on the encoder's device."""
        ids = self.tokenizer(prompts).to(self.position_embedding.device)
        return self(ids)


__all__ = ["Tokenizer", "TextConfig", "TextEncoder", "TransformerLayer", "caption_vocabulary"]
