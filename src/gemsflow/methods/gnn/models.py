"""GEMS model: node encoders, a heterogeneous GNN (PyG ``HeteroConv``) and a dot-product decoder.

Architectures: ``rgcn``, ``gat``, ``sage`` (one convolution per relation and layer, summed per destination
node type, then LayerNorm, ReLU, dropout; a linear head per node type) and ``mf`` (the same encoders,
heads and decoder with zero message-passing layers: a matrix-factorisation ablation).

The decoder scores individual ``u`` against choice ``c`` as ``<z_u, z_c> / temperature`` and takes the
softmax over the options of the question only.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GATConv, HeteroConv, RGCNConv, SAGEConv

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


class Adjacency:
    """One relation of a message-passing graph as a (destination x source) CSR matrix of ones, with its
    transpose and the destinations' in-degrees, so that a neighbour mean and its gradient are each one
    sparse-dense product.

    torch's own CSR mean (``torch.sparse.mm(csr, x, "mean")``) sorts the edges in every backward pass
    to transpose the matrix; here the transpose comes with the graph (:class:`AnswerGraphs` builds both
    from orders sorted once), so a training step sorts nothing.
    """

    def __init__(self, csr: torch.Tensor, csr_t: torch.Tensor):
        self.csr, self.csr_t = csr, csr_t
        self.degree = csr.crow_indices().diff().clamp(min=1).to(torch.float32).unsqueeze(1)

    @classmethod
    def from_edges(cls, dst: torch.Tensor, src: torch.Tensor, shape: tuple[int, int]) -> Adjacency:
        """From unsorted edges (sorts them: for graphs built once)."""
        n_dst, n_src = shape
        by_dst = torch.argsort(dst * n_src + src, stable=True)
        by_src = torch.argsort(src * n_dst + dst, stable=True)
        return cls(
            _csr(dst[by_dst], src[by_dst], n_dst, n_src),
            _csr(src[by_src], dst[by_src], n_src, n_dst),
        )

    def transposed(self) -> Adjacency:
        return Adjacency(self.csr_t, self.csr)

    def to(self, device: torch.device) -> Adjacency:
        return Adjacency(self.csr.to(device), self.csr_t.to(device))

    def edge_index(self) -> torch.Tensor:
        """(source, destination) rows, PyG's edge-list form."""
        counts = self.csr.crow_indices().diff()
        rows = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
        return torch.stack([self.csr.col_indices(), rows])

    @functools.cached_property
    def mean_t(self) -> torch.Tensor:
        """The transpose with each edge weighted 1 / its destination's degree: the mean's gradient
        matrix, in the form torch's own CSR mean uses in its backward (same figures, bit for bit)."""
        weights = (1 / self.degree.squeeze(1))[self.csr_t.col_indices()]
        t = self.csr_t
        return torch.sparse_csr_tensor(t.crow_indices(), t.col_indices(), weights, size=t.shape)

    def aggregate(self, x: torch.Tensor, reduce: str) -> torch.Tensor:
        """Sum or mean of each destination's source rows of ``x`` (0 where it has none); max through
        torch's CSR reduction."""
        if reduce == "mean":
            return _NeighbourSum.apply(x, self.csr, self.degree, self.mean_t)
        if reduce == "sum":
            return _NeighbourSum.apply(x, self.csr, None, self.csr_t)
        return torch.sparse.mm(self.csr.to(x.dtype), x, reduce)


def _csr(rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int) -> torch.Tensor:
    """CSR matrix of ones from edges already sorted by (row, column)."""
    crow = torch.zeros(n_rows + 1, dtype=torch.long, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n_rows), 0)
    values = torch.ones(len(cols), dtype=torch.float32, device=rows.device)
    return torch.sparse_csr_tensor(crow, cols, values, size=(n_rows, n_cols))


class _NeighbourSum(torch.autograd.Function):
    """``A @ x``, divided by the in-degree for a mean; the gradient is ``grad_matrix @ grad`` (``A.T``,
    its edges weighted 1 / degree for a mean)."""

    @staticmethod
    def forward(ctx, x, csr, degree, grad_matrix):
        ctx.grad_matrix = grad_matrix
        out = torch.sparse.mm(csr, x)
        return out if degree is None else out / degree

    @staticmethod
    def backward(ctx, grad):
        return torch.sparse.mm(ctx.grad_matrix, grad), None, None, None


class SparseSAGEConv(SAGEConv):
    """PyG's ``SAGEConv`` (same parameters and state-dict keys) over an :class:`Adjacency`."""

    def forward(self, x, adjacency: Adjacency) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            x = (x, x)
        out = self.lin_l(adjacency.aggregate(x[0], self.aggr))
        if self.root_weight and x[1] is not None:
            out = out + self.lin_r(x[1])
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return out


def _sage(dims: tuple[int, int], out: int, heads: int, cfg: dict[str, Any]) -> nn.Module:
    return SparseSAGEConv(
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


class SparseRGCNConv(RGCNConv):
    """PyG's ``RGCNConv`` with one relation (same parameters and state-dict keys) over an
    :class:`Adjacency`: the neighbour aggregate times the relation's weight, plus the root term. PyG's
    own forward copies and gathers every edge of the relation each layer (78 s an epoch at OpinionQA's
    size against 26 s for ``sage`` on the same graph)."""

    def forward(self, x, adjacency: Adjacency) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            x = (x, x)
        out = adjacency.aggregate(x[0], self.aggr) @ self.weight[0]
        if self.root is not None:
            out = out + x[1] @ self.root
        if self.bias is not None:
            out = out + self.bias
        return out


def _rgcn(dims: tuple[int, int], out: int, heads: int, cfg: dict[str, Any]) -> nn.Module:
    return SparseRGCNConv(
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

    @property
    def graph_form(self) -> str:
        """What :meth:`forward` takes as its graph (see :class:`AnswerGraphs`)."""
        if not self.layers:
            return "none"
        return "adjacency" if self.arch in ("sage", "rgcn") else "edges"

    def forward(
        self, trait_codes: torch.Tensor, edge_index: dict[tuple[str, str, str], torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Output embeddings of every node type for one message-passing graph."""
        h = self.encoders(trait_codes)
        # Dropout on the input tables keeps the choice/person rows from memorising the training answers
        # (for mf, which has no layers, it is the only regulariser besides weight decay).
        h = {t: self.input_dropout(x) for t, x in h.items()}
        for conv, norms in zip(self.layers, self.norms, strict=True):
            new = conv(h, edge_index)
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
        # Dividing the people's embeddings, not the people x choices matrix: at OpinionQA's shape (46,170
        # people, 1,876 choices) the matrix's division and the temperature's gradient over it were 44 %
        # of a step.
        scores = (z["individual"] / self.temperature) @ z["choice"].T
        slots = question_choices[question]
        # One flat index_select: its backward is a plain index_add, where 2-D advanced indexing sorts.
        flat = individual.unsqueeze(1) * scores.shape[1] + slots.clamp(min=0)
        out = scores.flatten().index_select(0, flat.flatten()).view(flat.shape)
        return out.masked_fill(slots < 0, float("-inf"))


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


class AnswerGraphs:
    """Message-passing graphs made of subsets of one pool of answers (the training answers), in the form
    the model takes: :class:`Adjacency` matrices for sage, edge lists for the other archs, nothing for mf.

    The pool is sorted once by (choice, individual) and by (individual, choice); a subset keeps those
    orders under a boolean mask, so each step builds its two CSR matrices without sorting. They hold the
    same entries in the same order as PyG's ``to_torch_csr_tensor`` of the edge list.
    """

    def __init__(
        self,
        bundle: dict[str, Any],
        pool: torch.Tensor,
        relations_: list[tuple[str, str, str]],
        form: str,
    ):
        self.bundle, self.relations, self.form = bundle, relations_, form
        self.n_individuals, self.n_choices = len(bundle["individuals"]), len(bundle["choices"])
        if form != "adjacency":
            return
        ind, cho = bundle["answer_individual"][pool], bundle["answer_choice"][pool]
        self.by_choice = pool[torch.argsort(cho * self.n_individuals + ind, stable=True)]
        self.by_individual = pool[torch.argsort(ind * self.n_choices + cho, stable=True)]
        self.fixed = {}
        sizes = {"individual": self.n_individuals, "choice": self.n_choices}
        sizes["subgroup"] = len(bundle["subgroups"])
        for rel in relations_:
            if rel == MEMBER:
                member = bundle["membership"]
                self.fixed[rel] = Adjacency.from_edges(
                    member[1], member[0], (sizes["subgroup"], sizes["individual"])
                )
                self.fixed[MEMBER_REV] = self.fixed[rel].transposed()
            elif rel[1] == "self":
                loop = torch.arange(sizes[rel[0]])
                self.fixed[rel] = Adjacency.from_edges(loop, loop, (len(loop), len(loop)))

    def __call__(self, answer_ids: torch.Tensor) -> dict:
        """The graph of the given answers (a subset of the pool)."""
        if self.form == "none":
            return {}
        if self.form == "edges":
            return full_edge_index(self.bundle, answer_ids, self.relations)
        b = self.bundle
        chosen = torch.zeros(len(b["answer_role"]), dtype=torch.bool)
        chosen[answer_ids] = True
        by_choice = self.by_choice[chosen[self.by_choice]]
        by_individual = self.by_individual[chosen[self.by_individual]]
        chose = Adjacency(
            _csr(
                b["answer_choice"][by_choice],
                b["answer_individual"][by_choice],
                self.n_choices,
                self.n_individuals,
            ),
            _csr(
                b["answer_individual"][by_individual],
                b["answer_choice"][by_individual],
                self.n_individuals,
                self.n_choices,
            ),
        )
        graph = {ANSWERS: chose, ANSWERS_REV: chose.transposed()}
        return {rel: graph.get(rel) or self.fixed[rel] for rel in self.relations}
