"""How much memory a network needs for a batch: training (forward and backward with an
optimizer) and inference, from the analysed graph alone (no PyTorch).

The model, in bytes of `dtype` (float32: 4 per value):

- input: the batch itself;
- parameters and buffers (BatchNorm's running statistics); gradients: one per parameter;
- optimizer state: per parameter, SGD with momentum keeps one value, Adam and AdamW two,
  plain SGD (momentum 0) none;
- forward activations: the tensors the forward pass leaves for the backward pass to read, by
  PyTorch's derivative formulas: the input of a convolution, a linear layer, a normalisation or
  a pooling, the output of a ReLU or a sigmoid, max pooling's indices (int64) and dropout's
  masks; a sum, a concatenation or a view keeps nothing. A ReLU or a sum after a layer that
  only it reads works in place (as torchvision's modules and archlang's compiled ones do) and
  takes no new memory. Measured against the tensors autograd saves for the zoo's networks:
  within 0.3% (AlexNet 1.1%), tests/test_net_api.py;
- backward activations: the gradients of the activations alive at once. The gradient of a
  layer's output lives from the backward step of its last reader to its own; at each step that
  is the same set of tensors the forward pass holds at that layer (its inputs still to be read,
  and its output), so the figure is the largest such set;
- training total: all of the above, the peak at the start of the backward pass;
- inference: parameters, buffers, the input and the largest set of activations alive at once
  in a forward pass without gradients.

`torchinfo_total` is torchinfo's "Estimated Total Size" for the same model, by torchinfo's
own definition (torchinfo 1.8): input + 2 × the outputs of the layers with parameters
("×2 for gradients") + parameter bytes (its input is `sys.getsizeof` of the tensor's storage:
64 bytes more). It counts every output of a layer with parameters, twice, even where the
backward pass does not read it or a ReLU writes over it, and leaves out the outputs of layers
without parameters (ReLU, pooling, sums), max pooling's indices, buffers, the gradients of the
weights and the optimizer state. So it can be above or below the training total: for a batch
of 64 with SGD, ResNet-50's is 11,522 MB against 6,422 MB, VGG-16's 7,533 MB against 7,998 MB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from archlang.errors import ArchError

# Values of optimizer state kept per parameter.
OPTIMIZER_SLOTS = {"none": 0, "sgd": 1, "adam": 2, "adamw": 2}
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
MAX_BATCH = 10**9


@dataclass
class MemoryEstimate:
    batch: int
    optimizer: str
    optimizer_slots: int
    dtype: str
    input: int
    parameters: int
    buffers: int
    gradients: int
    optimizer_state: int
    activations_forward: int
    activations_backward: int
    inference_activations: int
    torchinfo_total: int

    @property
    def training_total(self) -> int:
        return (self.input + self.parameters + self.buffers + self.gradients + self.optimizer_state
                + self.activations_forward + self.activations_backward)

    @property
    def inference_total(self) -> int:
        return self.input + self.parameters + self.buffers + self.inference_activations

    def to_dict(self) -> dict:
        return {**asdict(self), "training_total": self.training_total, "inference_total": self.inference_total}

    def table(self) -> str:
        rows = [
            ("input", self.input, "the batch"),
            ("parameters", self.parameters, ""),
            ("buffers", self.buffers, "BatchNorm running statistics"),
            ("gradients", self.gradients, "one per parameter"),
            ("optimizer state", self.optimizer_state, _slots_text(self.optimizer_slots)),
            ("activations, forward", self.activations_forward, "the tensors the backward pass reads"),
            ("activations, backward", self.activations_backward, "activation gradients alive at once, at most"),
            ("training total", self.training_total, "peak of one step, before allocator overhead"),
            ("inference total", self.inference_total, "no gradients: activations alive at once"),
            ("torchinfo's estimate", self.torchinfo_total, "its \"Estimated Total Size\" for this model"),
        ]
        width = max(len(r[0]) for r in rows)
        sizes = [(_binary(r[1]), f"{r[1] / 1e6:,.2f} MB") for r in rows]
        w1, w2 = (max(len(s[k]) for s in sizes) for k in (0, 1))
        lines = [f"memory for a batch of {self.batch} ({self.dtype}, optimizer {self.optimizer}):"]
        for (name, _, note), (binary, mb) in zip(rows, sizes):
            lines.append(f"  {name:<{width}}  {binary:>{w1}}  {mb:>{w2}}" + (f"   {note}" if note else ""))
        return "\n".join(lines)


def _slots_text(slots: int) -> str:
    return f"{slots} value{'s' if slots != 1 else ''} per parameter" if slots else "none"


def _binary(n: int) -> str:
    """Bytes in binary units (the table adds MB, 10^6 bytes, as torchinfo prints them)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,} B"


# Layers that make a new tensor their backward does not read, so that a ReLU or a sum right
# after them, their only reader, may write over it: PyTorch modules written as torchvision's
# are (`ReLU(inplace=True)`, `out += identity`), and archlang's compiled modules are too.
OVERWRITABLE = frozenset({"conv", "bn", "fc", "add", "concat"})
IN_PLACE = frozenset({"relu", "relu6"})
# What a layer's backward reads (PyTorch's derivative formulas): most read their input; these
# read only their output, and these nothing of their input or output (the sizes suffice).
READS_OUTPUT = frozenset({"relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax"})
READS_NOTHING = frozenset({"input", "add", "concat", "flatten", "reshape", "identity", "crop", "dropout",
                           "dropout2d", "drop_path", "pixel_shuffle", "channel_shuffle", "chunk", "upsample"})
# Bytes a layer keeps beside its output, per output value: max pooling's indices (int64), dropout's mask.
EXTRA_SAVED = {"maxpool": 8, "adaptive_maxpool": 8, "global_maxpool": 8, "dropout": 1}


def storages(net) -> list[int]:
    """For every layer, the layer whose memory its output uses: its own id, or, for a view
    (`flatten`) and an operation done in place, its input's storage."""
    readers = [0] * len(net.nodes)
    for n in net.nodes:
        for i in n.inputs:
            readers[i] += 1
    owner = list(range(len(net.nodes)))

    def reusable(i: int) -> bool:
        source = net.nodes[i]
        return readers[i] == 1 and source.type in OVERWRITABLE and i != net.output

    for n in net.nodes[1:]:
        if n.layer.view and len(n.inputs) == 1:
            owner[n.id] = owner[n.inputs[0]]
        elif n.type in IN_PLACE and len(n.inputs) == 1 and reusable(n.inputs[0]):
            owner[n.id] = owner[n.inputs[0]]
        elif n.type == "add" and len(n.inputs) == 2 and n.inputs[0] != n.inputs[1]:
            into = next((i for i in n.inputs if reusable(i)), None)
            if into is not None:
                owner[n.id] = owner[into]
    return owner


def kept_for_backward(net, owner: list[int]) -> set[int]:
    """The tensors (by owner, see storages) that some backward reads: the output of a layer whose
    backward reads its output, and the input of one whose backward reads its input."""
    kept = set()
    for n in net.nodes[1:]:
        if n.type in READS_OUTPUT:
            kept.add(owner[n.id])
        elif n.type not in READS_NOTHING:
            kept.update(owner[i] for i in n.inputs)
    return kept


def peak_alive(net, sizes: list[int], owner: list[int]) -> int:
    """The largest total size of tensors alive at once, walking the layers in order: a tensor
    lives from the layer that makes it to the last reader of it or of a view of it (to the end
    for the network's output); `owner` maps each layer to the tensor it writes (see storages)."""
    last = list(range(len(net.nodes)))
    for n in net.nodes:
        for i in n.inputs:
            last[owner[i]] = max(last[owner[i]], n.id)
    last[owner[net.output]] = len(net.nodes) - 1
    change = [0] * (len(net.nodes) + 1)
    for n in net.nodes:
        if owner[n.id] == n.id:
            change[n.id] += sizes[n.id]
            change[last[n.id] + 1] -= sizes[n.id]
    alive = peak = 0
    for delta in change[:-1]:
        alive += delta
        peak = max(peak, alive)
    return peak


def estimate(net, batch: int = 1, optimizer: str = "adamw", dtype: str = "float32",
             momentum: float | None = None) -> MemoryEstimate:
    """The memory estimate for `batch` samples; `momentum=0` with `optimizer="sgd"` keeps no state."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise ArchError("E752", f"the batch size is a whole number from 1, not {batch!r}", None,
                        hint="e.g. --batch 64 (memory grows with it; at most 10^9)")
    if optimizer not in OPTIMIZER_SLOTS:
        raise ArchError("E753", f"unknown optimizer `{optimizer}` for the memory estimate", None,
                        hint="one of " + ", ".join(OPTIMIZER_SLOTS) + " (`none`: no optimizer state)")
    if dtype not in DTYPE_BYTES:
        raise ArchError("E753", f"unknown dtype `{dtype}` for the memory estimate", None,
                        hint="one of " + ", ".join(DTYPE_BYTES))
    width = DTYPE_BYTES[dtype]
    slots = 0 if optimizer == "sgd" and momentum == 0 else OPTIMIZER_SLOTS[optimizer]
    per_batch = [_numel(n.shape) * width * batch for n in net.nodes]
    per_batch[0] = 0  # the input is counted as the input; it needs no gradient
    owner = storages(net)
    params = net.params * width
    input_bytes = _numel(net.input_shape) * width * batch
    with_params = sum(_numel(n.shape) for n in net.nodes if n.stats["params"] > 0)
    alive = peak_alive(net, per_batch, owner)
    # Activation gradients are new tensors, also where the forward pass worked in place.
    grads = peak_alive(net, [0 if net.nodes[i].layer.view else size for i, size in enumerate(per_batch)],
                       [i if not net.nodes[i].layer.view else o for i, o in enumerate(owner)])
    return MemoryEstimate(
        batch=batch, optimizer=optimizer, optimizer_slots=slots, dtype=dtype,
        input=input_bytes, parameters=params, buffers=net.buffers * width, gradients=params,
        optimizer_state=params * slots,
        activations_forward=(sum(per_batch[i] for i in kept_for_backward(net, owner))
                             + sum(EXTRA_SAVED.get(n.type, 0) * _numel(n.shape) * batch for n in net.nodes)),
        activations_backward=grads, inference_activations=alive,
        torchinfo_total=input_bytes + 2 * with_params * width * batch + params)


def _numel(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out
