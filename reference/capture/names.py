"""Name maps: which module of a DeepSeek V3.2 tree yields which dump tensor (verify/SCHEMA.md).

A name map is a dict  module-name pattern -> list of (dump names, extractor).
  * The pattern is a module name as `model.named_modules()` spells it, with `{layer}` standing for
    the decimal layer index ("layers.{layer}.attn.wq_b"). Patterns match whole names.
  * The dump names are the tensor names the extractor returns, in that order: per-layer names
    (`attn_norm`, ..., see SCHEMA.md) become `layers/NN/<name>`; the others (`embed`,
    `final_norm`, `logits`) are top-level.
  * An extractor is  f(hook, module, inputs, output) -> tuple of tensors (one per dump name, rows
    first, batch dimension removed) or None to record nothing for this call. `hook` carries the
    shape constants (hook.H, hook.d_n, hook.d_r, hook.d_v, hook.H_I, hook.d_I, hook.index_topk)
    and hook.rows_before, the absolute position of the call's first row.

To support another module tree, copy one of the maps below, change the patterns (and, where its
modules return other things, the extractors) and pass it to Capture(model, name_map=...), or add
it to NAME_MAPS under a new key.

Tensors that are not the output (or input) of a module in the tree cannot be captured with hooks
and are simply absent from the dump (`dsv32 verify` lists them as present in one dump only):
q_rope / k_rope (RoPE is a function call inside the attention), indexer_q / indexer_k (RoPE and
the Hadamard transform), indexer_scores, router_logits / router_scores (computed inside the gate)
and, in the official tree, logits (its head sees only the last position).
"""
import torch


def _rows(t):
    """[1, S, ...] -> [S, ...]; a tree run with a batch of one sequence."""
    if t.dim() >= 2 and t.shape[0] == 1:
        return t[0]
    raise ValueError(f"capture needs batch size 1 and a sequence dimension, got shape {list(t.shape)}")


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def output(hook, mod, inputs, out):
    return (_rows(_first(out)),)


def input0(hook, mod, inputs, out):
    return (_rows(inputs[0]),)


def attn_out_and_o_proj(hook, mod, inputs, out):
    """o_proj / wo: its input is the per-head attention output, flattened; its output is o_proj."""
    a = _rows(inputs[0])
    return a.reshape(a.shape[0], hook.H, hook.d_v), _rows(_first(out))


def q_nope(hook, mod, inputs, out):
    """q_b_proj / wq_b output [S, H·(d_n+d_r)]: per head the first d_n are q_nope (before RoPE
    the rope part is not the dumped q_rope, so only q_nope is taken)."""
    q = _rows(_first(out))
    return (q.reshape(q.shape[0], hook.H, hook.d_n + hook.d_r)[..., :hook.d_n],)


def indexer_weights(hook, mod, inputs, out):
    """weights_proj(x) · H_I^-0.5 · d_I^-0.5, the dump's indexer_weights."""
    return (_rows(_first(out)) * hook.H_I ** -0.5 * hook.d_I ** -0.5,)


def indexer_topk(hook, mod, inputs, out):
    """The indexer's selected positions [S, k'] in any order -> the dump's indexer_topk: per row
    (absolute position t) the selected positions <= t, ascending, -1 padded to index_topk. Entries
    > t are dropped: the official code takes topk(min(index_topk, end_pos)) of causally masked
    scores, so a prefill row with fewer than k visible positions also "selects" masked ones."""
    sel = _rows(_first(out)).to(torch.long)
    S = sel.shape[0]
    res = torch.full((S, hook.index_topk), -1, dtype=torch.long)
    for s in range(S):
        t = hook.rows_before + s
        row = torch.unique(sel[s][(sel[s] >= 0) & (sel[s] <= t)])   # unique also sorts
        res[s, :row.numel()] = row
    return (res,)


def gate_choice(hook, mod, inputs, out):
    """A router's (weights, ids) or (ids, weights[, aux]) -> expert_ids ascending and the weights
    aligned with them. A gate that returns one float tensor gives nothing here."""
    if not isinstance(out, (tuple, list)):
        return None
    ints = [t for t in out if torch.is_tensor(t) and not t.is_floating_point()]
    flts = [t for t in out if torch.is_tensor(t) and t.is_floating_point() and ints and t.shape == ints[0].shape]
    if not ints or not flts:
        return None
    ids, w = ints[0], flts[0]
    if ids.dim() == 3:                                  # [1, S, K] trees keep the batch
        ids, w = _rows(ids), _rows(w)
    order = torch.argsort(ids, dim=-1)
    return torch.gather(ids, -1, order).to(torch.long), torch.gather(w, -1, order)


def official_residual(hook, mod, inputs, out):
    """inference/model.py's Block returns (ffn output, residual before the FFN); the dump's
    residual after the layer is their sum as the next RMSNorm forms it: in fp32, stored back in the
    tree's dtype (bf16 for the official code, whose REF-1 residual is a bf16 value). A float64 tree
    sums in float64."""
    x, r = _rows(out[0]), _rows(out[1])
    if x.dtype == torch.float64:
        return (x + r.double(),)
    return ((x.float() + r.float()).to(x.dtype),)


def all_rows(hook, mod, inputs, out):
    """Logits, only when the head saw every position (its output has a sequence dimension)."""
    t = _first(out)
    if t.dim() < 3:
        return None
    return (_rows(t),)


# deepseek-ai/DeepSeek-V3.2-Exp inference/model.py (Transformer / Block / MLA / Indexer / MoE).
OFFICIAL = {
    "embed": [(("embed",), output)],
    "layers.{layer}.attn_norm": [(("attn_norm",), output)],
    "layers.{layer}.attn.q_norm": [(("q_latent",), output)],
    "layers.{layer}.attn.wq_b": [(("q_nope",), q_nope)],
    "layers.{layer}.attn.kv_norm": [(("kv_latent",), output)],
    "layers.{layer}.attn.indexer.weights_proj": [(("indexer_weights",), indexer_weights)],
    "layers.{layer}.attn.indexer": [(("indexer_topk",), indexer_topk)],
    "layers.{layer}.attn.wo": [(("attn_out", "o_proj"), attn_out_and_o_proj)],
    "layers.{layer}.ffn_norm": [(("ffn_norm",), output)],
    "layers.{layer}.ffn.gate": [(("expert_ids", "expert_weights"), gate_choice)],
    "layers.{layer}.ffn": [(("ffn_out",), output)],
    "layers.{layer}": [(("residual",), official_residual)],
    "norm": [(("final_norm",), output)],
    "head": [(("logits",), all_rows)],
}

# Hugging Face transformers / remote-code DeepseekV3-style names (DeepseekV3ForCausalLM).
HUGGINGFACE = {
    "model.embed_tokens": [(("embed",), output)],
    "model.layers.{layer}.input_layernorm": [(("attn_norm",), output)],
    "model.layers.{layer}.self_attn.q_a_layernorm": [(("q_latent",), output)],
    "model.layers.{layer}.self_attn.q_b_proj": [(("q_nope",), q_nope)],
    "model.layers.{layer}.self_attn.kv_a_layernorm": [(("kv_latent",), output)],
    "model.layers.{layer}.self_attn.indexer.weights_proj": [(("indexer_weights",), indexer_weights)],
    "model.layers.{layer}.self_attn.indexer": [(("indexer_topk",), indexer_topk)],
    "model.layers.{layer}.self_attn.o_proj": [(("attn_out", "o_proj"), attn_out_and_o_proj)],
    "model.layers.{layer}.post_attention_layernorm": [(("ffn_norm",), output)],
    "model.layers.{layer}.mlp.gate": [(("expert_ids", "expert_weights"), gate_choice)],
    "model.layers.{layer}.mlp": [(("ffn_out",), output)],
    "model.layers.{layer}": [(("residual",), output)],   # the decoder layer returns the residual stream
    "model.norm": [(("final_norm",), output)],
    "lm_head": [(("logits",), all_rows)],
}

NAME_MAPS = {"official": OFFICIAL, "hf": HUGGINGFACE}
