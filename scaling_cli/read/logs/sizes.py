"""Where a logged run's size N comes from: a params file (:func:`read_params_file`, run id ->
count), or the Hugging Face ``config.json`` beside a ``trainer_state.json``
(:func:`size_from_config`), counted for common decoder-only transformers as follows.

N counts every trained weight, embeddings included (Hoffmann et al. 2022 count them; the
run field ``non_embedding_params`` carries Kaplan et al.'s count as well). With V =
``vocab_size``, h = hidden size, L = layers, I = MLP inner size, and the LM head counted
only when it is not tied to the input embedding (``tie_word_embeddings``):

**gpt2** (``n_embd``, ``n_layer``, ``n_positions``, ``n_inner`` or 4h; LayerNorms with bias,
biases on every projection)::

    N = V h + n_positions h + L (4h^2 + 2hI + 9h + I) + 2h [+ V h if untied]

**gpt_neox** (Pythia; ``hidden_size``, ``num_hidden_layers``, ``intermediate_size``;
rotary, so no position weights; untied by default)::

    N = V h + L (4h^2 + 2hI + 9h + I) + 2h [+ V h if untied]

(per layer: fused QKV 3h^2+3h, output h^2+h, MLP hI+I + Ih+h, two LayerNorms 4h.)

**llama, mistral, qwen2, gemma** (RMSNorm with weight only; gated MLP with three
matrices; grouped-query attention with a = ``num_attention_heads``, k =
``num_key_value_heads`` (default a), d = ``head_dim`` (default h/a))::

    N = V h + L (h·a·d + 2·h·k·d + a·d·h + 3hI + 2h + b) + h [+ V h if untied]

where b counts biases: q, k, v biases (a·d + 2·k·d) for qwen2; with ``attention_bias``
(llama) also the output bias h; with ``mlp_bias`` (llama) 2I + h. Untied by default except
gemma (always tied).

Non-embedding N subtracts the input embedding V h, the position embedding (gpt2) and an
untied head. Checked against published counts in tests/test_trainer_logs.py: GPT-2 small
124,439,808; Pythia-70M 70,426,624, Pythia-160M 162,322,944; Llama-2-7B 6,738,415,616;
TinyLlama-1.1B 1,100,048,384; Mistral-7B 7,241,732,096; Qwen2.5-0.5B 494,032,768; Gemma-2B
2,506,172,416. Mixture-of-experts configs are refused (total and active counts differ).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scaling_cli.errors import InputError
from scaling_cli.read.sources import LIMITS, read_bounded_text
from scaling_cli.read.tables import run_id_text
from scaling_cli.units import QuantityError, parse_number, shown

__all__ = ["FAMILIES", "ModelSize", "read_params_file", "size_from_config"]

FAMILIES = ("gpt2", "gpt_neox", "llama", "mistral", "qwen2", "gemma")
_HOW = "give the size with --log-params or --params-file"
_MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")


@dataclass(frozen=True)
class ModelSize:
    params: float
    non_embedding_params: float
    family: str


def _ints(config: Mapping[str, Any], where: str, family: str,
          keys: tuple[str, ...]) -> dict[str, int]:
    missing = [k for k in keys if config.get(k) is None]
    if missing:
        names = ", ".join(repr(k) for k in missing)
        raise InputError(f"{where}: cannot count the parameters of a {family!r} model: no "
                         f"{names}; {_HOW}")
    out = {}
    for k in keys:
        value = config[k]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{where}: {k!r} is {shown(value)}, not a positive whole number; "
                             f"fix the config or {_HOW}")
        out[k] = value
    return out


def _optional(config: Mapping[str, Any], where: str, key: str, default: int) -> int:
    if config.get(key) is None:
        return default
    return _ints(config, where, "", (key,))[key]


def _flag(config: Mapping[str, Any], where: str, key: str, default: bool) -> bool:
    value = config.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InputError(f"{where}: {key!r} is {shown(value)}, not true or false; fix the "
                         f"config or {_HOW}")
    return value


def size_from_config(config: object, where: str) -> ModelSize:
    """N (and non-embedding N) of the model a ``config.json`` describes; ``where`` names
    the file in messages. Raises :class:`InputError` for families it cannot count."""
    if not isinstance(config, Mapping):
        raise InputError(f"{where}: is not a JSON object; {_HOW}")
    family = config.get("model_type")
    if not isinstance(family, str):
        raise InputError(f"{where}: has no 'model_type'; {_HOW}")
    for key in _MOE_KEYS:
        experts = config.get(key)
        if isinstance(experts, int) and not isinstance(experts, bool) and experts > 1:
            raise InputError(f"{where}: is a mixture-of-experts model ({key} = {experts}): "
                             f"total and active parameters differ; {_HOW}")
    if family == "gpt2":
        return _gpt2(config, where)
    if family == "gpt_neox":
        return _gpt_neox(config, where)
    if family in ("llama", "mistral", "qwen2", "gemma"):
        return _llama_like(config, where, family)
    raise InputError(f"{where}: model_type {shown(family)} is not one scaling-cli can count "
                     f"({', '.join(FAMILIES)}); {_HOW}")


def _gpt2(config: Mapping[str, Any], where: str) -> ModelSize:
    c = _ints(config, where, "gpt2", ("vocab_size", "n_embd", "n_layer", "n_positions"))
    v, h, layers, positions = c["vocab_size"], c["n_embd"], c["n_layer"], c["n_positions"]
    inner = _optional(config, where, "n_inner", 4 * h)
    tied = _flag(config, where, "tie_word_embeddings", True)
    body = layers * (4 * h * h + 2 * h * inner + 9 * h + inner) + 2 * h
    embedding = v * h + positions * h + (0 if tied else v * h)
    return ModelSize(float(body + embedding), float(body), "gpt2")


def _gpt_neox(config: Mapping[str, Any], where: str) -> ModelSize:
    c = _ints(config, where, "gpt_neox", ("vocab_size", "hidden_size", "num_hidden_layers",
                                          "intermediate_size"))
    v, h = c["vocab_size"], c["hidden_size"]
    layers, inner = c["num_hidden_layers"], c["intermediate_size"]
    tied = _flag(config, where, "tie_word_embeddings", False)
    bias = _flag(config, where, "attention_bias", True)
    body = layers * (4 * h * h + 2 * h * inner + 5 * h + inner + (4 * h if bias else 0)) + 2 * h
    embedding = v * h * (1 if tied else 2)
    return ModelSize(float(body + embedding), float(body), "gpt_neox")


def _llama_like(config: Mapping[str, Any], where: str, family: str) -> ModelSize:
    c = _ints(config, where, family, ("vocab_size", "hidden_size", "num_hidden_layers",
                                      "intermediate_size", "num_attention_heads"))
    v, h, inner = c["vocab_size"], c["hidden_size"], c["intermediate_size"]
    layers, heads = c["num_hidden_layers"], c["num_attention_heads"]
    kv = _optional(config, where, "num_key_value_heads", heads)
    head_dim = _optional(config, where, "head_dim", h // heads)
    q, k = heads * head_dim, kv * head_dim
    bias = 0
    if family == "qwen2":
        bias += q + 2 * k
    if _flag(config, where, "attention_bias", False):
        bias += q + 2 * k + h
    if _flag(config, where, "mlp_bias", False):
        bias += 2 * inner + h
    per_layer = h * q + 2 * h * k + q * h + 3 * h * inner + 2 * h + bias
    tied = True if family == "gemma" else _flag(config, where, "tie_word_embeddings", False)
    body = layers * per_layer + h
    embedding = v * h * (1 if tied else 2)
    return ModelSize(float(body + embedding), float(body), family)


# --------------------------------------------------------------------------- params files


def read_params_file(path: str) -> dict[str, float]:
    """Run id -> parameter count from a small file: CSV with columns ``id`` (or
    ``run_id``/``run``/``Name``) and ``params``, or YAML mapping ``RUN: COUNT`` (``70M``)."""
    text = read_bounded_text(path, LIMITS["max_file_bytes"], what="params file")
    rows: list[tuple[str, str, object]] = []  # (where, run id, count)
    if path.lower().endswith(".csv"):
        reader = csv.DictReader(text.splitlines())
        header = [h.strip() for h in reader.fieldnames or []]
        id_col = next((c for c in ("id", "run_id", "run", "Name") if c in header), None)
        if id_col is None or "params" not in header:
            raise InputError(f"{path}: a params file needs columns id and params (columns are "
                             f"{', '.join(header) or 'none'})")
        for row in reader:
            clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            rows.append((f"{path}: line {reader.line_num}", clean[id_col], clean["params"]))
    else:
        from scaling_cli.read.yamlsafe import load_yaml_documents  # PyYAML: only for YAML

        docs = [d for d in load_yaml_documents(text, path) if d is not None]
        if len(docs) != 1 or not isinstance(docs[0], Mapping):
            raise InputError(f"{path}: a params file maps run ids to counts, e.g. "
                             "'ladder-70M: 70M', one per line")
        rows = [(f"{path}: run {shown(k)}", str(k), v) for k, v in docs[0].items()]
    out: dict[str, float] = {}
    for where, key, value in rows:
        run_id = run_id_text(key, where)
        try:
            count = parse_number(value)
        except QuantityError as exc:
            raise InputError(f"{where}: field 'params': {exc.problem}") from None
        if not 1e3 <= count <= 1e15:
            raise InputError(f"{where}: field 'params': {shown(value)} is not a plausible "
                             "parameter count (1000 to 1e15); give the full count, e.g. 70M")
        if run_id in out:
            raise InputError(f"{where}: run {shown(run_id)} is given twice; keep one")
        out[run_id] = count
    if not out:
        raise InputError(f"{path}: is empty; list runs and their sizes, e.g. 'ladder-70M: 70M'")
    return out
