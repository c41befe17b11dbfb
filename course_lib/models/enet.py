"""ENet (Paszke, Chaurasia, Kim & Culurciello, "ENet: A Deep Neural Network Architecture for
Real-Time Semantic Segmentation", arXiv:1606.02147, 2016).

The network of Table 1, with the paper's names: an ``initial`` block, five stages of
*bottlenecks* (``bottleneck1_0`` ... ``bottleneck5_1``; the paper writes ``bottleneck1.0``) and a
``fullconv``. A large encoder (stages 1-3) and a small decoder (stages 4-5): "the decoder only
upsamples the output of the encoder, fine-tuning the details" (§4).

    model = ENet(num_classes=4)                              # 0.36 M parameters (paper: 0.37 M)
    model(torch.zeros(1, 3, 512, 512)).shape                 # (1, 4, 512, 512)
    structure(model, (1, 3, 512, 512))                       # the rows of Table 1, measured

``course_lib.recipes.enet`` holds notebook 03's training on the course's shapes (``train_enet``, which
``benchmarks/enet.py`` and ``scripts/train_enet_checkpoint.py`` run too, and the shipped network's
``load_enet_checkpoint``); ``course_lib.profiling.measure`` gives parameters, FLOPs and time,
:func:`realtime_peers` the networks it is compared with (notebook 03 and ``benchmarks/realtime.py``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.fcn import FCN
from course_lib.models.unet import UNet
from course_lib.validate import check_int

__all__ = ["ENet", "InitialBlock", "AsymmetricConv", "RegularBottleneck", "DownsamplingBottleneck",
           "UpsamplingBottleneck", "structure", "realtime_peers", "realtime_table", "class_weights"]


def _activation(name: str) -> nn.Module:
    """§4: PReLU in the encoder, ReLU in the decoder."""
    if name == "prelu":
        return nn.PReLU()
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"activation must be 'prelu' or 'relu', got {name!r}")


def _conv_bn_act(conv: nn.Module, channels: int, activation: str | None) -> nn.Sequential:
    """A convolution, batch norm and (optionally) the activation: "between all convolutions" (§3)."""
    layers = [conv, nn.BatchNorm2d(channels)]
    if activation is not None:
        layers.append(_activation(activation))
    return nn.Sequential(*layers)


class InitialBlock(nn.Module):
    """ENet §3, Fig. 2a: a 3x3/2 conv (13 maps) concatenated with a 2x2 max-pool (3 maps).

    Halves the image at once, so that the rest of the network works on 4x fewer pixels; "visual
    information is highly spatially redundant" (§4).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 16):
        super().__init__()
        if out_channels <= in_channels:
            raise ValueError(f"out_channels ({out_channels}) must exceed in_channels ({in_channels})")
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bn_act = nn.Sequential(nn.BatchNorm2d(out_channels), _activation("prelu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn_act(torch.cat([self.conv(x), self.pool(x)], dim=1))


class AsymmetricConv(nn.Sequential):
    """§4 "Factorizing filters": an n x n convolution replaced by n x 1 followed by 1 x n.

    Same receptive field as n x n, 2n instead of n^2 weights per channel pair; "their
    combination is equivalent to a 5 x 5 convolution" whose kernel has rank 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, bias: bool = False):
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
        pad = kernel_size // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, (kernel_size, 1), padding=(pad, 0), bias=bias),
            nn.Conv2d(out_channels, out_channels, (1, kernel_size), padding=(0, pad), bias=bias),
        )


class RegularBottleneck(nn.Module):
    """§3, Fig. 2b: the residual bottleneck that keeps the size (regular, dilated or asymmetric).

    Extension branch: 1x1 *projection* to ``channels // 4``, the main convolution (3x3, 3x3
    dilated by ``dilation``, or, given ``asymmetric_kernel_size=n``, n x 1 + 1 x n), 1x1
    *expansion* back, spatial dropout; batch norm and the activation between them. The main branch
    is the identity; the two are added, then activated.
    """

    def __init__(self, channels: int, *, dilation: int = 1, asymmetric_kernel_size: int | None = None,
                 dropout: float = 0.1, activation: str = "prelu", internal_ratio: int = 4):
        super().__init__()
        if dilation > 1 and asymmetric_kernel_size:
            raise ValueError("a bottleneck is dilated or asymmetric, not both")
        internal = channels // internal_ratio
        self.dilation, self.asymmetric_kernel_size = dilation, asymmetric_kernel_size
        if asymmetric_kernel_size:
            conv = AsymmetricConv(internal, internal, asymmetric_kernel_size)
        else:
            conv = nn.Conv2d(internal, internal, 3, padding=dilation, dilation=dilation, bias=False)
        self.projection = _conv_bn_act(nn.Conv2d(channels, internal, 1, bias=False), internal, activation)
        self.conv = _conv_bn_act(conv, internal, activation)
        self.expansion = _conv_bn_act(nn.Conv2d(internal, channels, 1, bias=False), channels, None)
        self.dropout = nn.Dropout2d(dropout)
        self.activation = _activation(activation)

    @property
    def kind(self) -> str:
        """The "Type" column of Table 1: "", "dilated 2", "asymmetric 5"."""
        if self.asymmetric_kernel_size:
            return f"asymmetric {self.asymmetric_kernel_size}"
        return f"dilated {self.dilation}" if self.dilation > 1 else ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extension = self.dropout(self.expansion(self.conv(self.projection(x))))
        return self.activation(x + extension)


class DownsamplingBottleneck(nn.Module):
    """§3: a bottleneck that halves the size and widens the channels.

    Extension: the 1x1 projection becomes a 2x2 convolution with stride 2. Main branch: a 2x2
    max-pool, zero-padded to the new channel count. Returns the max-pool *indices* too: the
    decoder's ``UpsamplingBottleneck`` puts values back where the maxima were (§3, after SegNet).
    """

    kind = "downsampling"

    def __init__(self, in_channels: int, out_channels: int, *, dropout: float = 0.1,
                 activation: str = "prelu", internal_ratio: int = 4):
        super().__init__()
        internal = in_channels // internal_ratio
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.pad_channels = out_channels - in_channels
        self.projection = _conv_bn_act(nn.Conv2d(in_channels, internal, 2, stride=2, bias=False),
                                       internal, activation)
        self.conv = _conv_bn_act(nn.Conv2d(internal, internal, 3, padding=1, bias=False), internal, activation)
        self.expansion = _conv_bn_act(nn.Conv2d(internal, out_channels, 1, bias=False), out_channels, None)
        self.dropout = nn.Dropout2d(dropout)
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        main, indices = self.pool(x)
        main = F.pad(main, (0, 0, 0, 0, 0, self.pad_channels))  # zero maps appended along C
        extension = self.dropout(self.expansion(self.conv(self.projection(x))))
        return self.activation(main + extension), indices


class UpsamplingBottleneck(nn.Module):
    """§3: a decoder bottleneck that doubles the size and narrows the channels.

    Main branch: a 1x1 convolution to the new channel count, then max-*unpooling* with the indices
    of the matching ``DownsamplingBottleneck``. Extension: the main 3x3 convolution becomes a
    transposed convolution with stride 2. ReLU, as everywhere in the decoder.
    """

    kind = "upsampling"

    def __init__(self, in_channels: int, out_channels: int, *, dropout: float = 0.1,
                 activation: str = "relu", internal_ratio: int = 4):
        super().__init__()
        internal = in_channels // internal_ratio
        self.main_conv = _conv_bn_act(nn.Conv2d(in_channels, out_channels, 1, bias=False), out_channels, None)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        self.projection = _conv_bn_act(nn.Conv2d(in_channels, internal, 1, bias=False), internal, activation)
        self.conv = _conv_bn_act(
            nn.ConvTranspose2d(internal, internal, 3, stride=2, padding=1, output_padding=1, bias=False),
            internal, activation)
        self.expansion = _conv_bn_act(nn.Conv2d(internal, out_channels, 1, bias=False), out_channels, None)
        self.dropout = nn.Dropout2d(dropout)
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        main = self.unpool(self.main_conv(x), indices)
        extension = self.dropout(self.expansion(self.conv(self.projection(x))))
        return self.activation(main + extension)


class ENet(nn.Module):
    """Table 1: the network for a 3 x 512 x 512 input, one attribute per row, in the table's order.

    Spatial dropout p = 0.01 in stage 1 ("before bottleneck2.0") and 0.1 afterwards (§3;
    ``dropout=(0.01, 0.1)``, give ``(0, 0)`` to switch it off); PReLU in the encoder, ReLU in the
    decoder (§4). The forward pass walks the rows in order; each downsampling bottleneck pushes its
    max-pool indices on a stack, each upsampling bottleneck pops them (stage 4 uses stage 2's,
    stage 5 uses stage 1's). Sides must be divisible by 8 (three halvings).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, dropout: tuple[float, float] = (0.01, 0.1)):
        super().__init__()
        check_int("num_classes", num_classes, 1)
        check_int("in_channels", in_channels, 1)
        if in_channels >= 16:
            raise ValueError(f"in_channels must be below 16 (the initial block's width), got {in_channels}")
        if (not isinstance(dropout, (tuple, list)) or len(dropout) != 2
                or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 1 for p in dropout)):
            raise ValueError(f"dropout must be two probabilities in [0, 1), (stage 1, later stages) such as "
                             f"the paper's (0.01, 0.1), got {dropout!r}")
        self.num_classes, self.in_channels = num_classes, in_channels
        p1, p = dropout
        self.initial = InitialBlock(in_channels, 16)
        # Stage 1: 64 x 128 x 128
        self.bottleneck1_0 = DownsamplingBottleneck(16, 64, dropout=p1)
        for i in range(1, 5):
            setattr(self, f"bottleneck1_{i}", RegularBottleneck(64, dropout=p1))
        # Stages 2 and 3 ("repeat section 2, without bottleneck2.0"): 128 x 64 x 64
        self.bottleneck2_0 = DownsamplingBottleneck(64, 128, dropout=p)
        for stage in (2, 3):
            for i, (dilation, asymmetric_kernel_size) in enumerate(
                    [(1, None), (2, None), (1, 5), (4, None), (1, None), (8, None), (1, 5), (16, None)], start=1):
                setattr(self, f"bottleneck{stage}_{i}", RegularBottleneck(
                    128, dilation=dilation, asymmetric_kernel_size=asymmetric_kernel_size, dropout=p))
        # Stage 4: 64 x 128 x 128
        self.bottleneck4_0 = UpsamplingBottleneck(128, 64, dropout=p)
        self.bottleneck4_1 = RegularBottleneck(64, activation="relu", dropout=p)
        self.bottleneck4_2 = RegularBottleneck(64, activation="relu", dropout=p)
        # Stage 5: 16 x 256 x 256
        self.bottleneck5_0 = UpsamplingBottleneck(64, 16, dropout=p)
        self.bottleneck5_1 = RegularBottleneck(16, activation="relu", dropout=p)
        # C x 512 x 512
        self.fullconv = nn.ConvTranspose2d(16, num_classes, kernel_size=2, stride=2, bias=False)

    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"ENet expects a tensor (N, {self.in_channels}, H, W), got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ENet expects a (N, {self.in_channels}, H, W) tensor, got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        if height % 8 or width % 8:
            raise ValueError(f"ENet halves the input 3 times: height and width must be divisible by 8, "
                             f"got {height}x{width} (nearest: {8 * (height // 8) or 8}x{8 * (width // 8) or 8})")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        indices = []
        for block in self.children():
            if isinstance(block, DownsamplingBottleneck):
                x, pool_indices = block(x)
                indices.append(pool_indices)
            elif isinstance(block, UpsamplingBottleneck):
                x = block(x, indices.pop())
            else:
                x = block(x)
        return x


def structure(model: ENet, input_size=(1, 3, 512, 512)) -> list[tuple[str, str, tuple[int, ...]]]:
    """The rows of Table 1 measured on the live network: ``(name, type, (C, H, W))`` per block.

    A forward hook on each child records the size of its output (the first item for a
    downsampling bottleneck, which also returns indices). Names are the paper's
    (``bottleneck2.3``).
    """
    rows, handles = [], []

    def record(name):
        def hook(module, inputs, output):
            output = output[0] if isinstance(output, tuple) else output
            kind = getattr(module, "kind", "")
            rows.append((name.replace("_", "."), kind, tuple(output.shape[1:])))
        return hook

    for name, block in model.named_children():
        handles.append(block.register_forward_hook(record(name)))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(input_size, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


PAPER_REALTIME = {"params": 0.37e6, "speedup": 18, "fewer_flops": 75, "fewer_params": 79}  # §5, vs SegNet


def realtime_peers(num_classes: int = 4) -> dict[str, nn.Module]:
    """ENet and the peers it is timed against (seeded, random weights): the U-Net of notebook 02 with
    the paper's widths and same padding (``UNet(3, num_classes, base_channels=64, padding="same")``)
    and FCN-8s with its VGG-16 backbone (notebook 01)."""
    torch.manual_seed(0)
    return {"ENet": ENet(num_classes), "U-Net": UNet(3, num_classes, base_channels=64, padding="same"),
            "FCN-8s": FCN(num_classes, "8s", backbone="vgg16")}


def realtime_table(results: dict[str, dict]) -> str:
    """``course_lib.profiling.measure`` results by network as a table, with ENet's advantage over each
    and the paper's claims (0.37 M parameters; up to 18x faster, 75x fewer FLOPs and 79x fewer
    parameters than SegNet)."""
    enet = results["ENet"]
    lines = [f"{'model':8s} {'params':>9s} {'GFLOPs':>8s} {'time (ms)':>10s} {'ENet faster':>12s} "
             f"{'fewer FLOPs':>12s} {'fewer params':>13s}"]
    for name, r in results.items():
        lines.append(f"{name:8s} {r['params'] / 1e6:8.2f}M {r['flops'] / 1e9:8.1f} {r['seconds'] * 1e3:10.0f} "
                     f"{r['seconds'] / enet['seconds']:11.1f}x {r['flops'] / enet['flops']:11.1f}x "
                     f"{r['params'] / enet['params']:12.1f}x")
    paper = PAPER_REALTIME
    lines.append(f"{'paper':8s} {paper['params'] / 1e6:8.2f}M {'':8s} {'':10s} {'up to ' + str(paper['speedup']):>11s}x "
                 f"{paper['fewer_flops']:11d}x {paper['fewer_params']:12d}x")
    return "\n".join(lines)


def class_weights(masks: torch.Tensor, num_classes: int, c: float = 1.02) -> torch.Tensor:
    """§5.2: ``w_class = 1 / ln(c + p_class)``, ``p_class`` the share of ``masks``' pixels in the class.

    Rare classes weigh more, but unlike inverse frequencies the weights stay bounded as ``p_class``
    goes to 0 (at most ``1 / ln c``: 50.5 for the paper's ``c = 1.02``). ``masks`` holds class indices
    in ``[0, num_classes)``, any shape; returns ``num_classes`` float weights for
    ``nn.CrossEntropyLoss(weight=...)``.
    """
    num_classes = check_int("num_classes", num_classes, 1)
    if not isinstance(masks, torch.Tensor) or masks.dtype.is_floating_point or masks.dtype == torch.bool:
        raise TypeError(f"masks must be an integer tensor of class indices, got "
                        f"{masks.dtype if isinstance(masks, torch.Tensor) else type(masks).__name__}")
    if masks.numel() == 0:
        raise ValueError("masks is empty: there are no pixels to count")
    if masks.min() < 0 or masks.max() >= num_classes:
        raise ValueError(f"masks holds classes {int(masks.min())}..{int(masks.max())}, "
                         f"outside [0, {num_classes}) for num_classes={num_classes}")
    if not c > 1:
        raise ValueError(f"c must be > 1 so that ln(c + p) > 0 for every class, got {c!r}")
    share = torch.bincount(masks.flatten(), minlength=num_classes) / masks.numel()
    return 1 / torch.log(c + share)
