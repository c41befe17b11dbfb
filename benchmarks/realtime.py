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

These are ``course_lib.models.enet.realtime_peers()``, measured with ``course_lib.profiling.measure``
and printed with ``realtime_table``, as in notebook 03.

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

from course_lib.models.enet import realtime_peers, realtime_table
from course_lib.profiling import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, torch.get_num_threads()}))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, input 1x3x{args.size}x{args.size}")
    nets = realtime_peers()
    for threads in args.threads:
        torch.set_num_threads(threads)
        results = {name: measure(net, (1, 3, args.size, args.size), repeats=args.repeats, warmup=args.warmup)
                   for name, net in nets.items()}
        print(f"\ntorch threads: {threads}")
        print(realtime_table(results))
        ratio = results["U-Net"]["seconds"] / results["ENet"]["seconds"]
        print(f"ENet vs U-Net: {ratio:.1f}x faster (target >= 10x) -> {'PASS' if ratio >= 10 else 'FAIL'}")


if __name__ == "__main__":
    main()
