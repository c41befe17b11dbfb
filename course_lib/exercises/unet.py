"""Exercises of notebook 02 (U-Net, slide B1): crop-and-concat, size arithmetic, mirror padding,
the border term of the weight map."""
import torch

from course_lib.checks import Exercise, run_int, uniform_int
from course_lib.models.unet import border_weights, crop_and_concat, unet_output_size, valid_input_sizes
from course_lib.ops.tiling import mirror_pad


def _crop_cases(g):
    def side(low, high):
        return uniform_int(g, low, high)

    cases = []
    for crop, channels in [(side(2, 6), True), (8, False), (side(3, 5), True), (0, False), (side(5, 9), True)]:
        n, c1 = uniform_int(g, 1, 2), uniform_int(g, 1, 4)
        c2 = uniform_int(g, 1, 5) if channels else c1
        h, w = side(3, 12), side(3, 12)
        skip_h = h + crop + (uniform_int(g, 0, 1) if crop else 0)  # odd margins: which side is cropped more?
        skip_w = w + crop + (uniform_int(g, 0, 1) if crop else 0)
        cases.append(dict(skip=torch.randn(n, c1, skip_h, skip_w, generator=g),
                          x=torch.randn(n, c2, h, w, generator=g)))
    return cases


def _output_size_cases(g):
    rows = [(4, 572), (4, uniform_int(g, 140, 200)), (4, uniform_int(g, 600, 800)), (3, uniform_int(g, 68, 100)),
            (3, uniform_int(g, 100, 160)), (2, uniform_int(g, 30, 50)), (2, uniform_int(g, 50, 80)),
            (1, uniform_int(g, 10, 20)), (1, uniform_int(g, 20, 40))]
    return [dict(size=valid_input_sizes(size, depth)[1], depth=depth) for depth, size in rows]


def _mirror_cases(g):
    def image(*shape):
        return torch.rand(*shape, generator=g)

    height, width = uniform_int(g, 3, 4), uniform_int(g, 5, 7)
    h, w = uniform_int(g, 8, 12), uniform_int(g, 8, 12)
    return [dict(image=torch.arange(float(width)).repeat(1, height, 1), pad=uniform_int(g, 1, height - 1)),
            dict(image=image(1, uniform_int(g, 5, 8), uniform_int(g, 5, 8)),
                 pad=tuple(uniform_int(g, 1, 4) for _ in range(4))),
            dict(image=image(2, 3, 8, 8), pad=(uniform_int(g, 1, 6), 0, 0, uniform_int(g, 1, 6))),
            dict(image=image(1, h, w), pad=(h - 1, h - 1, w - 1, w - 1)),       # wider than the image
            dict(image=image(3, uniform_int(g, 3, 6), uniform_int(g, 3, 6)), pad=0)]


def _rectangles(g, count):
    """A label map with ``count`` rectangles side by side, 1 to 3 pixels apart, numbered from 1."""
    widths = [uniform_int(g, 2, 5) for _ in range(count)]
    gaps = [uniform_int(g, 1, 3) for _ in range(count + 1)]
    height = uniform_int(g, 8, 14)
    labels = torch.zeros(height, sum(widths) + sum(gaps), dtype=torch.int64)
    left = gaps[0]
    for label, (width, gap) in enumerate(zip(widths, gaps[1:]), start=1):
        top = uniform_int(g, 0, height // 2)
        labels[top:top + uniform_int(g, 2, height - top), left:left + width] = label
        left += width + gap
    return labels


def _border_cases(g):
    three = _rectangles(g, 3)
    return [dict(instances=_rectangles(g, 2), w0=10.0, sigma=5.0), dict(instances=three, w0=10.0, sigma=5.0),
            dict(instances=three, w0=float(uniform_int(g, 2, 6)), sigma=float(uniform_int(g, 1, 3))),
            dict(instances=_rectangles(g, 1), w0=10.0, sigma=5.0)]   # one object: no border term


EXERCISES = [
    Exercise("B1.1", "crop_and_concat", crop_and_concat, _crop_cases, tol=0),
    Exercise("B1.2", "unet_output_size", unet_output_size, _output_size_cases, run=run_int, tol=0),
    Exercise("B1.3", "mirror_pad", mirror_pad, _mirror_cases, tol=0),
    Exercise("B1.4", "border_weights", border_weights, _border_cases, tol=1e-4),
]
