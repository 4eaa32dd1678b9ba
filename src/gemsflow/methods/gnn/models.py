"""GEMS model: node encoders, a heterogeneous GNN (PyG ``HeteroConv``) and a dot-product decoder.

Architectures: ``rgcn``, ``gat``, ``sage`` (one convolution per relation and layer, summed per destination
node type, then LayerNorm, ReLU, dropout; a linear head per node type) and ``mf`` (the same encoders,
heads and decoder with zero message-passing layers: a matrix-factorisation ablation).

The decoder scores individual ``u`` against choice ``c`` as ``<z_u, z_c> / temperature`` and takes the
softmax over the options of the question only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch_geometric.nn import GATConv, HeteroConv, RGCNConv, SAGEConv
from torch_geometric.utils import to_torch_csr_tensor

ENCODERS = {
    "individual": ("fixed", "trait", "one_hot", "trait_one_hot"),
    "choice": ("one_hot", "random"),
    "subgroup": ("one_hot", "fixed"),
}

# torch warns once per process that CSR tensors are "beta" and that PyG skips the invariant checks; the
# CSR matrices below are built by PyG from valid edge indices, so the warnings say nothing about them.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

ANSWERS = ("individual", "chose", "choice")
ANSWERS_REV = ("choice", "chosen_by", "individual")
MEMBER = ("individual", "member_of", "subgroup")
MEMBER_REV = ("subgroup", "has_member", "individual")


def relations(node_types: list[str], self_loops: bool) -> list[tuple[str, str, str]]:
    rels = [ANSWERS, ANSWERS_REV]
    if "subgroup" in node_types:
        rels += [MEMBER, MEMBER_REV]
    if self_loops:
        rels += [(t, "self", t) for t in node_types]
    return rels


class NodeEncoders(nn.Module):
    """Input features per node type: fixed ones, per-trait tables, or a learnable row per node."""

    def __init__(self, config: dict[str, Any], sizes: dict[str, int], trait_sizes: list[int]):
        super().__init__()
        kinds = {t: config[t] for t in ENCODERS}
        for node_type, kind in kinds.items():
            if kind not in ENCODERS[node_type]:
                raise ValueError(
                    f"gnn encoders.{node_type}: unknown encoder {kind!r}; use one of "
                    f"{', '.join(ENCODERS[node_type])}"
                )
        self.kinds = kinds
        self.dims: dict[str, int] = {}
        self.tables = nn.ModuleDict()
        for node_type in ("choice", "subgroup"):
            if node_type not in sizes:
                continue
            if kinds[node_type] == "fixed":
                self.dims[node_type] = 1
                continue
            dim = int(config[f"{node_type}_dim"])
            self.tables[node_type] = nn.Embedding(sizes[node_type], dim)
            self.dims[node_type] = dim
            if kinds[node_type] == "random":
                self.tables[node_type].weight.requires_grad_(False)
        ind_dim = int(config["individual_dim"])
        if kinds["individual"] == "fixed":
            self.dims["individual"] = 1
        elif kinds["individual"] == "one_hot":
            self.tables["individual"] = nn.Embedding(sizes["individual"], ind_dim)
            self.dims["individual"] = ind_dim
        else:
            # One extra row per trait for "missing"; it stays at zero, as a missing value carries nothing.
            self.trait_tables = nn.ModuleList(
                nn.Embedding(n + 1, ind_dim, padding_idx=n) for n in trait_sizes
            )
            self.dims["individual"] = ind_dim * len(trait_sizes)
            if kinds["individual"] == "trait_one_hot":
                # Per-person rows start at zero: a person without training answers never gets a gradient
                # and is then described by its traits alone instead of by random noise.
                self.person = nn.Embedding(sizes["individual"], ind_dim)
                nn.init.zeros_(self.person.weight)
                self.dims["individual"] += ind_dim
        self.sizes = sizes

    def forward(self, trait_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for node_type, n in self.sizes.items():
            if node_type in self.tables:
                out[node_type] = self.tables[node_type].weight
            elif node_type == "individual" and self.kinds["individual"] != "fixed":
                parts = []
                for t, table in enumerate(self.trait_tables):
                    codes = trait_codes[:, t]
                    parts.append(table(torch.where(codes < 0, table.padding_idx, codes)))
                if self.kinds["individual"] == "trait_one_hot":
                    parts.append(self.person.weight)
                out[node_type] = torch.cat(parts, dim=1)
            else:
                out[node_type] = torch.ones(n, 1, device=trait_codes.device)
        return out


def _sage(dims: tuple[int, int], out: int, heads: int, cfg: dict[str, Any]) -> nn.Module:
    return SAGEConv(
        dims,
        out,
        aggr=cfg["aggregation"],
        normalize=bool(cfg["sage_normalize"]),
        root_weight=True,
        project=False,
        bias=True,
    )


def _gat(dims: tuple[int, int], out: int, heads: int, cfg: dict[str, Any]) -> nn.Module:
    if out % heads:
        raise ValueError(f"gnn hidden_dim {out} must be divisible by heads {heads}")
    return GATConv(
        dims,
        out // heads,
        heads=heads,
        concat=True,
        dropout=float(cfg["attention_dropout"]),
        negative_slope=float(cfg["negative_slope"]),
        add_self_loops=False,
        aggr=cfg["aggregation"],
    )


def _rgcn(dims: tuple[int, int], out: int, heads: int, cfg: dict[str, Any]) -> nn.Module:
    return RGCNConv(
        dims, out, num_relations=1, aggr=cfg["aggregation"], root_weight=True, bias=True
    )


# The layer of each arch in gemsflow.methods.registry.GNN_ARCHS, built once per relation and layer from
# (source dim, destination dim), the hidden size, the layer's heads and the resolved model config.
# None: no message passing (mf).
CONVS: dict[str, Callable[..., nn.Module] | None] = {
    "mf": None,
    "rgcn": _rgcn,
    "gat": _gat,
    "sage": _sage,
}


class GemsModel(nn.Module):
    def __init__(
        self,
        arch: str,
        model_config: dict[str, Any],
        encoder_config: dict[str, Any],
        sizes: dict[str, int],
        trait_sizes: list[int],
    ):
        super().__init__()
        if arch not in CONVS:
            raise ValueError(f"unknown gnn arch {arch!r}; use one of {', '.join(CONVS)}")
        self.arch = arch
        self.node_types = list(sizes)
        self.encoders = NodeEncoders(encoder_config, sizes, trait_sizes)
        n_layers = 0 if CONVS[arch] is None else int(model_config["layers"])
        self.self_loops = bool(model_config["self_loops"]) and n_layers > 0
        self.relations = relations(self.node_types, self.self_loops)
        hidden = int(model_config["hidden_dim"])
        heads = list(model_config.get("heads") or [1])
        dims = dict(self.encoders.dims)
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for layer in range(n_layers):
            n_heads = int(heads[min(layer, len(heads) - 1)])
            convs = {
                rel: CONVS[arch]((dims[rel[0]], dims[rel[2]]), hidden, n_heads, model_config)
                for rel in self.relations
            }
            self.layers.append(HeteroConv(convs, aggr=model_config["relation_aggregation"]))
            self.norms.append(
                nn.ModuleDict(
                    {
                        t: nn.LayerNorm(hidden) if model_config["layer_norm"] else nn.Identity()
                        for t in self.node_types
                    }
                )
            )
            dims = dict.fromkeys(self.node_types, hidden)
        self.dropout = nn.Dropout(float(model_config["dropout"]))
        self.input_dropout = nn.Dropout(float(model_config["input_dropout"]))
        out_dim = int(model_config["output_dim"])
        self.heads = nn.ModuleDict({t: nn.Linear(dims[t], out_dim) for t in self.node_types})
        self.temperature = nn.Parameter(torch.tensor(float(model_config["temperature_init"])))

    def forward(
        self, trait_codes: torch.Tensor, edge_index: dict[tuple[str, str, str], torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Output embeddings of every node type for one message-passing graph."""
        h = self.encoders(trait_codes)
        extra = {}
        if self.arch == "sage" and self.layers:
            edge_index = sparse_adjacency(edge_index, h)
        if self.arch == "rgcn":
            # One relation per conv: RGCNConv still wants an edge-type vector.
            extra["edge_type_dict"] = {
                rel: torch.zeros(e.shape[1], dtype=torch.long, device=e.device)
                for rel, e in edge_index.items()
            }
        # Dropout on the input tables keeps the choice/person rows from memorising the training answers
        # (for mf, which has no layers, it is the only regulariser besides weight decay).
        h = {t: self.input_dropout(x) for t, x in h.items()}
        for conv, norms in zip(self.layers, self.norms, strict=True):
            new = conv(h, edge_index, **extra)
            h = {t: self.dropout(torch.relu(norms[t](new[t]))) for t in self.node_types}
        return {t: self.heads[t](h[t]) for t in self.node_types}

    def logits(
        self,
        z: dict[str, torch.Tensor],
        individual: torch.Tensor,
        question: torch.Tensor,
        question_choices: torch.Tensor,
    ) -> torch.Tensor:
        """Scores of each (individual, question) pair over the question's option slots.

        Padding slots (questions with fewer options than the widest one) get ``-inf``.
        """
        scores = z["individual"] @ z["choice"].T / self.temperature
        slots = question_choices[question]
        # One flat index_select: its backward is a plain index_add, where 2-D advanced indexing sorts.
        flat = individual.unsqueeze(1) * scores.shape[1] + slots.clamp(min=0)
        out = scores.flatten().index_select(0, flat.flatten()).view(flat.shape)
        return out.masked_fill(slots < 0, float("-inf"))


def sparse_adjacency(
    edge_index: dict[tuple[str, str, str], torch.Tensor], h: dict[str, torch.Tensor]
) -> dict[tuple[str, str, str], torch.Tensor]:
    """Each relation as a CSR (destination x source) matrix, the form in which SAGEConv's mean is one
    fused sparse-dense product instead of a gathered (edges x channels) message tensor: the same function
    up to float summation order, 1.7x faster on Twin's graph (``benchmarks/sage_sparse_speed.py``)."""
    return {
        rel: to_torch_csr_tensor(e.flip(0), size=(len(h[rel[2]]), len(h[rel[0]])))
        for rel, e in edge_index.items()
    }


def full_edge_index(
    bundle: dict[str, Any], answer_ids: torch.Tensor, relations_: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], torch.Tensor]:
    """Edge index of every relation for a message-passing graph made of the given answers."""
    ind = bundle["answer_individual"][answer_ids]
    cho = bundle["answer_choice"][answer_ids]
    out = {ANSWERS: torch.stack([ind, cho]), ANSWERS_REV: torch.stack([cho, ind])}
    member = bundle["membership"]
    sizes = {
        "individual": len(bundle["individuals"]),
        "choice": len(bundle["choices"]),
        "subgroup": len(bundle["subgroups"]),
    }
    for rel in relations_:
        if rel == MEMBER:
            out[rel] = member
        elif rel == MEMBER_REV:
            out[rel] = member.flip(0)
        elif rel[1] == "self":
            loop = torch.arange(sizes[rel[0]])
            out[rel] = torch.stack([loop, loop])
    return out
