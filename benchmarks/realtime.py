"""ENet's "real time" claim, measured: parameters, FLOPs and CPU inference time of ENet, U-Net and
FCN-8s side by side in one run (notebook 03, slide B2).

    .venv/bin/python benchmarks/realtime.py                   # 512 x 512, batch 1, 1 thread and torch's default
    .venv/bin/python benchmarks/realtime.py --threads 2       # one table per thread count given

Compared, all with random weights and ``num_classes=4`` (the shapes dataset), eval mode,
``torch.inference_mode``:

- ENet: ``course_lib.models.enet.ENet(4)`` (Table 1 of Paszke et al. 2016).
- U-Net: ``UNet(3, 4, base_channels=64, padding="same")``: the paper's widths, same padding so
  that 512 x 512 gives 512 x 512 (the U-Net of notebook 02).
- FCN-8s: ``FCN(4, "8s", backbone="vgg16")`` (Long et al. 2015, VGG-16 backbone).

Time is the median of ``--repeats`` passes after ``--warmup`` untimed ones (plus the FLOP-counting
pass). Target (course issue 3): ENet at least 10x faster than the U-Net in the same run; the paper
claims up to 18x faster, 75x fewer FLOPs and 79x fewer parameters than its peers (mainly SegNet).
On a shared machine, compare the ratios, not the seconds. With several threads on a busy machine
ENet suffers most: each of its ~300 small layers waits for every thread at a barrier, so one
descheduled thread stalls it, while U-Net's few large convolutions barely notice (measured on the
course's loaded 2-core build machine: ENet 32x faster than U-Net with 1 thread, 0.5x with 2).
"""
import argparse
import os
import platform

import torch

from course_lib.models.enet import ENet
from course_lib.models.fcn import FCN
from course_lib.models.unet import UNet
from course_lib.profiling import measure

PAPER = {"params": 0.37e6, "speedup": 18, "fewer_flops": 75, "fewer_params": 79}


def models(num_classes: int = 4) -> dict:
    torch.manual_seed(0)
    return {"ENet": ENet(num_classes),
            "U-Net (base 64, same)": UNet(3, num_classes, base_channels=64, padding="same"),
            "FCN-8s (VGG-16)": FCN(num_classes, "8s", backbone="vgg16")}


def table(results: dict) -> str:
    enet = results["ENet"]
    lines = [f"{'model':24s} {'params':>10s} {'GFLOPs':>9s} {'time (ms)':>10s} "
             f"{'ENet faster':>12s} {'fewer FLOPs':>12s} {'fewer params':>13s}"]
    for name, r in results.items():
        lines.append(f"{name:24s} {r['params'] / 1e6:9.2f}M {r['flops'] / 1e9:9.1f} {r['seconds'] * 1e3:10.0f} "
                     f"{r['seconds'] / enet['seconds']:11.1f}x {r['flops'] / enet['flops']:11.1f}x "
                     f"{r['params'] / enet['params']:12.1f}x")
    lines.append(f"{'paper (ENet vs peers)':24s} {PAPER['params'] / 1e6:9.2f}M {'':9s} {'':10s} "
                 f"{'up to 18':>11s}x {75:11d}x {79:12d}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, torch.get_num_threads()}))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, input 1x3x{args.size}x{args.size}")
    nets = models()
    for threads in args.threads:
        torch.set_num_threads(threads)
        results = {name: measure(net, (1, 3, args.size, args.size), repeats=args.repeats, warmup=args.warmup)
                   for name, net in nets.items()}
        print(f"\ntorch threads: {threads}")
        print(table(results))
        ratio = results["U-Net (base 64, same)"]["seconds"] / results["ENet"]["seconds"]
        print(f"ENet vs U-Net: {ratio:.1f}x faster (target >= 10x) -> {'PASS' if ratio >= 10 else 'FAIL'}")


if __name__ == "__main__":
    main()
